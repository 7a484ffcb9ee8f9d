"""The aiohttp entrypoint: HTTP requests in, use-case calls, JSON out."""
