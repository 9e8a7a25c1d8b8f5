"""The site's actions (HackSoft's services: they write): code only the site calls, on the chat's
DynamoDB tables through lambdas' models. Importable without Django configured (tests and bench
use them), so nothing here imports Django."""
