"""
The errors every storage driver raises, whatever its backend.
"""

import errno

#: The errors of a full disk, or of a user over its quota.
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


class StorageDriverError(Exception):
    """
    Base class of the errors a driver reports.

    @ivar driver: the name of the driver that failed.
    """

    def __init__(self, driver: str, message: str) -> None:
        super().__init__(f"{driver}: {message}")
        self.driver = driver


class PathNotFound(StorageDriverError):
    """
    Nothing is stored at the path.
    """

    def __init__(self, driver: str, path: str) -> None:
        super().__init__(driver, f"path not found: {path}")
        self.path = path


class InvalidPath(StorageDriverError):
    """
    The path is not one a driver accepts (see L{txregistry.interfaces}).
    """

    def __init__(self, driver: str, path: str) -> None:
        super().__init__(driver, f"invalid path: {path!r}")
        self.path = path


class InvalidOffset(StorageDriverError):
    """
    A read was asked to start at a negative offset or past the end.
    """

    def __init__(self, driver: str, path: str, offset: int) -> None:
        super().__init__(driver, f"invalid offset {offset} for {path}")
        self.path = path
        self.offset = offset


class UnexpectedError(StorageDriverError):
    """
    The backend failed in a way the contract has no name for (a full disk,
    a permission denied, ...).

    @ivar enclosed: the backend's own exception.
    """

    def __init__(self, driver: str, enclosed: BaseException) -> None:
        super().__init__(driver, f"{type(enclosed).__name__}: {enclosed}")
        self.enclosed = enclosed


class PathBusy(StorageDriverError):
    """
    Another writer, in this process or another, holds the path.
    """

    def __init__(self, driver: str, path: str) -> None:
        super().__init__(driver, f"another writer holds {path}")
        self.path = path


def isStorageFull(error: object) -> bool:
    """
    @return: whether C{error} says the storage has no room left (a full
        disk or an exhausted quota), as a driver reports it.
    """
    if isinstance(error, UnexpectedError):
        error = error.enclosed
    return isinstance(error, OSError) and error.errno in _FULL
