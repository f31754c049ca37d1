"""HTTP routes by domain. Each route parses, calls one service, and shapes the result."""
