"""The admin pages: login, roles, CSRF; the same library functions as the CLI, as HTML."""
