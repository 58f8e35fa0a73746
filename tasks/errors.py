from taskmanager.exceptions import ConflictError


class RelationExistsError(ConflictError):
    code = "relation_exists"
    message = "These two tasks are related this way already (in one direction or the other)."
