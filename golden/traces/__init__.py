"""KV traces: the format (v1 prompt + query, v2 growing context) and the generators."""
