"""The HTTP and WebSocket ingress: a FastAPI app on Ray Serve in front of the agents."""
