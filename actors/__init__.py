"""The lbtui runtime: Pykka actors around pure cores, wired by the role builders in ``roles``.

Nothing under ``actors`` imports ``textual`` or ``lbtui``; see ARCHITECTURE.md, house rule 1.
"""
