"""Where Responses state lives between requests: this process's memory, or Redis."""
