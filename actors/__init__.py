"""The lbtui runtime: configuration, cluster model, pure cores and (later) the Pykka actors.

Nothing under ``actors`` imports ``textual`` or ``lbtui``; see ../DESIGN.md rule 1.
"""
