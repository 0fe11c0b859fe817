"""The web app and REST API: ``create_app(Settings())``; started by ``unmask serve``."""
