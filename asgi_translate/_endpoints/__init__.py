"""The endpoints the middleware answers: the translated exchange and the side endpoints around it
(same-schema model renaming, token counting, the model list, Responses state)."""
