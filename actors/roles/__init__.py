"""One builder per role (speaker, controller, demo): options in, actor specs out.

The only place actors are wired together.
"""
