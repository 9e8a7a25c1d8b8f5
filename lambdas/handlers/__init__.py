"""One thin module per API Gateway route; each exposes `handler(event, context)`."""
