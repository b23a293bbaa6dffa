"""
The C{txregistry} command: operations on a registry's configuration and
storage, one subcommand each (the modules of L{txregistry.commands}).

The configuration is loaded and checked as C{twistd registry} loads it at
start (L{txregistry.configuration.loadConfiguration}), C{REGISTRY_*} overrides
included; an error is printed as the one line C{twistd} prints, with exit
status 1.  The storage commands run under a reactor (L{task.react}), on the
configured driver, with the services it needs (thread pools) running.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Coroutine, Mapping
from typing import IO, Any, NoReturn

from twisted.internet import task
from twisted.internet.defer import Deferred, maybeDeferred

from txregistry.commands.du import du
from txregistry.commands.garbagecollect import garbageCollect
from txregistry.commands.purgeuploads import purgeUploads
from txregistry.config.units import parse_duration
from txregistry.configuration import loadConfiguration
from txregistry.interfaces import IStorageDriver
from txregistry.startup import PREFIX, StartupError
from txregistry.storage.driver.errors import StorageDriverError
from txregistry.storage.driver.factory import makeDriver
from txregistry.storage.gc.retention import RetentionPolicy

#: Runs a job under a reactor: calls it with the reactor and exits with the
#: status it fires with (L{runUnderReactor}); tests pass one returning the
#: L{Deferred}.
Runner = Callable[[Callable[[Any], "Deferred[int]"]], Any]

#: Seconds a thread runs before another may take the interpreter, in the
#: storage commands (L{runUnderReactor}).
SWITCH_INTERVAL = 0.0005

#: A storage command: given the reactor and the driver, prints its report
#: and returns the exit status.
StorageJob = Callable[[Any, IStorageDriver], Coroutine[Any, Any, int]]


def packageVersion() -> str:
    """
    @return: the installed version of txregistry.
    """
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("txregistry")
    except PackageNotFoundError:
        return "unknown"


def duration(text: str) -> Any:
    """
    Parse a command line duration as the configuration does.
    """
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def makeParser() -> argparse.ArgumentParser:
    """
    @return: the parser of the command line, one subparser per command.
    """
    parser = argparse.ArgumentParser(
        prog="txregistry", description="Operate a txregistry container registry.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("version", help="print the version")
    check = commands.add_parser(
        "check-config", help="validate a configuration and print it, secrets masked")
    check.add_argument("config", metavar="CONFIG")
    purge = commands.add_parser(
        "purge-uploads", help="delete the uploads abandoned in the configured storage")
    purge.add_argument("config", metavar="CONFIG")
    purge.add_argument(
        "--older-than", type=duration, default=None, metavar="DURATION",
        help="purge the uploads started longer ago than this (such as 24h); "
             "default: storage.maintenance.uploadpurging.age")
    purge.add_argument("--dry-run", action="store_true",
                       help="print what would be deleted, delete nothing")
    usage = commands.add_parser(
        "du", help="bytes per repository, shared blobs counted once in the total")
    usage.add_argument("config", metavar="CONFIG")
    usage.add_argument("--json", action="store_true", help="print JSON")
    collect = commands.add_parser(
        "garbage-collect",
        help="delete the blobs no manifest needs (the registry must not serve pushes)")
    collect.add_argument("config", metavar="CONFIG")
    collect.add_argument("--dry-run", action="store_true",
                         help="print what would be deleted, delete nothing")
    collect.add_argument("--delete-untagged", action="store_true",
                         help="also delete the manifests no tag names, but the children "
                              "of kept indexes and the referrers of kept manifests")
    collect.add_argument("--quiet", action="store_true",
                         help="print only the counts, not each thing removed")
    return parser


def runUnderReactor(job: Callable[[Any], Deferred[int]]) -> NoReturn:
    """
    Run C{job} under the global reactor and exit with its status.
    """
    def exitWith(status: int) -> None:
        if status:
            raise SystemExit(status)

    # The storage commands hand many small jobs between the reactor and the
    # driver's threads: with the default 5 ms, the reactor waits that long
    # for the interpreter each time a busy thread holds it.
    sys.setswitchinterval(SWITCH_INTERVAL)

    task.react(lambda reactor: job(reactor).addCallback(exitWith))
    raise AssertionError("react returned")  # pragma: no cover


async def withStorage(reactor: Any, config: Any, job: StorageJob,
                      err: IO[str]) -> int:
    """
    Run C{job} on the configured storage driver, its services running.

    @return: C{job}'s exit status, or 1 (the reason printed on C{err} in one
        line) if the driver cannot be set up or fails.
    """
    try:
        storage = makeDriver(config.storage, reactor, cacheLinks=False)
    except ValueError as e:
        err.write(f"{PREFIX}{e}\n")
        return 1
    for service in storage.services:
        service.startService()
    try:
        return await job(reactor, storage.driver)
    except StorageDriverError as e:
        err.write(f"{PREFIX}storage error: {e}\n")
        return 1
    finally:
        for service in reversed(storage.services):
            await maybeDeferred(service.stopService)


def main(argv: list[str] | None = None, stdout: IO[str] | None = None,
         stderr: IO[str] | None = None, environ: Mapping[str, str] | None = None,
         run: Runner = runUnderReactor) -> Any:
    """
    Run the command line C{argv}.

    @param argv: the arguments (C{sys.argv[1:]} by default).
    @param environ: the environment with C{REGISTRY_*} overrides
        (C{os.environ} by default).
    @param run: runs the storage commands under a reactor (L{Runner}).
    @return: the exit status; for a storage command, what C{run} returns
        (L{runUnderReactor} exits instead).
    """
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    args = makeParser().parse_args(argv)
    if args.command == "version":
        out.write(f"txregistry {packageVersion()}\n")
        return 0
    try:
        config = loadConfiguration(args.config, os.environ if environ is None else environ)
    except StartupError as e:
        err.write(f"{PREFIX}{e}\n")
        return 1
    if args.command == "check-config":
        from txregistry.commands import checkconfig
        out.write(checkconfig.render(config))
        return 0
    job: StorageJob
    if args.command == "purge-uploads":
        purging = config.storage.maintenance.uploadpurging
        age = args.older_than if args.older_than is not None else purging.age
        dryRun = args.dry_run

        async def job(reactor: Any, driver: IStorageDriver) -> int:
            return await purgeUploads(driver, reactor, age, dryRun, out)
    elif args.command == "garbage-collect":
        options = {"dryRun": args.dry_run, "deleteUntagged": args.delete_untagged,
                   "quiet": args.quiet}
        retention = RetentionPolicy.fromConfig(config.storage.maintenance.retention)

        async def job(reactor: Any, driver: IStorageDriver) -> int:
            return await garbageCollect(driver, reactor, out, retention=retention, **options)
    else:
        asJson = args.json

        async def job(reactor: Any, driver: IStorageDriver) -> int:
            return await du(driver, asJson, out)

    return run(lambda reactor: Deferred.fromCoroutine(withStorage(reactor, config, job, err)))


if __name__ == "__main__":
    sys.exit(main())
