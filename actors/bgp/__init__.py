"""BGP mode on the wire: codec, FSM, sessions, BFD and the FRR backend."""
