from taskmanager.exceptions import ConflictError


class LastAdminError(ConflictError):
    code = "last_admin"
    message = "A project keeps at least one admin: make someone else admin first."


class PersonalProjectError(ConflictError):
    code = "personal_project"
    message = "A personal project takes no other members and cannot be deleted."


class ProjectArchivedError(ConflictError):
    code = "project_archived"
    message = "The project is archived and read-only: an admin may unarchive it."


class LabelNameTakenError(ConflictError):
    code = "label_exists"
    message = "The project has a label of this name already (whatever the case)."
