"""Use cases: one class per module, ports injected in __init__, one `async def execute(command)`."""
