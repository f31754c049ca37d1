"""The tools Nexus calls: generated from the store's entities, plus hand-written domain tools.

Built in the tools issue; imports `store` only.
"""
