"""The site's reads (HackSoft's selectors): queries only the site makes, on the chat's DynamoDB
tables through lambdas' models. Importable without Django configured, like chat.services."""
