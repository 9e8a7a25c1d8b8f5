"""DynamoWave's framework-free backend: the code every Lambda function of the WebSocket API runs."""
