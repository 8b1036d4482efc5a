"""Confine the calling process to one run's share of the machine: Landlock, no new privileges,
no capabilities. Whatever the run starts inherits all three.

Standalone on purpose: stdlib only, no runplane imports. The zygote loads it by path and calls
`confine` in each forked child; a spawned run (shell, or python3 with the spawn executor) is
started through it as a wrapper, which confines itself and then execs the command:

    python -I -S confine.py POLICY_JSON -- COMMAND...

POLICY_JSON is ``{"workdir": str, "read": [dirs], "write": [dirs], "devices": [files]}``.
Once confined:

- files: the run's own directory and the `write` ones may be read and written; the `read`
  directories (the system
  and the interpreter's prefixes) read and executed; the `devices` (/dev/null and the like)
  read and written; everything else, the database file, the server's other files, other
  runs' directories, is refused (EACCES), whatever the process's uid and mode bits say;
- signals and abstract unix sockets (Landlock ABI 6 and later): the run cannot signal, or
  connect to an abstract socket of, any process outside its own domain, the server's included;
  ptrace and /proc/PID/{environ,mem,fd} of processes outside it are refused on every ABI;
- unix-domain sockets (seccomp, x86_64 and aarch64): socket(AF_UNIX) is refused, so a run
  cannot talk to the machine's local daemons as the server's user: PostgreSQL by peer
  authentication, docker.sock, systemd, D-Bus (socketpair() still works);
- no_new_privs: a setuid program (su, sudo) cannot raise the run's privileges;
- a root process drops every capability, so root's CAP_SYS_ADMIN, CAP_SYS_BOOT, CAP_NET_ADMIN
  and the like are not a script's.

Landlock needs Linux 5.13 with the LSM enabled; `abi_version` says whether it is there.
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
import sys

# Syscall numbers of Landlock are the same on every architecture.
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_CAPABILITY_VERSION_3 = 0x20080522

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
# Removing and making directory entries of each kind, up to MAKE_SYM.
_CHANGE_DIR = sum(1 << bit for bit in range(4, 13))
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

_READ = EXECUTE | READ_FILE | READ_DIR

# seccomp: refuse socket(AF_UNIX, ...). Per architecture: (AUDIT_ARCH_*, the socket syscall).
_SECCOMP_TARGETS = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_LD_ABS, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K ...
_ALLOW, _REFUSE = 0x7FFF0000, 0x00050000 | 13  # SECCOMP_RET_ALLOW; SECCOMP_RET_ERRNO|EACCES
_X32_BIT = 0x40000000
_AF_UNIX = 1
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
# Looked up once, where the module is loaded: a forked child that looked them up itself would
# pay for it in copied pages, as for everything else built here rather than in the child.
_syscall, _prctl, _capset = _libc.syscall, _libc.prctl, _libc.capset
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV


def abi_version() -> int:
    """The kernel's Landlock ABI version, or 0 where Landlock is missing or disabled."""
    version = _syscall(_CREATE_RULESET, None, ctypes.c_size_t(0),
                       ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(0, int(version))


def _fs_rights(abi: int) -> int:
    """Every file right this ABI knows: those not handled would stay allowed."""
    rights = EXECUTE | WRITE_FILE | READ_FILE | READ_DIR | _CHANGE_DIR
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def _ruleset_attr(abi: int) -> bytes:
    # struct landlock_ruleset_attr grew a field at ABI 4 (net) and 6 (scoped); an older
    # kernel refuses a larger size, so only the fields it knows are passed.
    handled = _fs_rights(abi)
    if abi >= 6:
        return struct.pack("=QQQ", handled, 0, SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL)
    if abi >= 4:
        return struct.pack("=QQ", handled, 0)
    return struct.pack("=Q", handled)


class Prepared:
    """A policy made ready once (in the zygote), so that confining a run costs few calls.

    `begin` does what needs no knowledge of the run: the ruleset of what every run may reach,
    no_new_privs, the bounding set emptied, the seccomp filter (none of which stops a later
    setuid to the run's user); a spare child calls it while it waits for its order. `finish`
    adds the run's own directory, drops the last capabilities and confines for good.
    """

    def __init__(self, read: list[str], devices: list[str], write: list[str]) -> None:
        self.abi = abi_version()
        if self.abi < 1:
            raise OSError("Landlock is not available in this kernel")
        self.attr = _ruleset_attr(self.abi)
        self.everything = _fs_rights(self.abi)
        device_rights = WRITE_FILE | READ_FILE | (self.everything & (TRUNCATE | IOCTL_DEV))
        rules = [(path, self.everything) for path in write]
        rules += [(path, _READ) for path in read]
        rules += [(path, device_rights) for path in devices]
        # A file (not a folder) may only be given the rights of files.
        self.rules = [(path, rights if os.path.isdir(path) else rights & _FILE_RIGHTS)
                      for path, rights in rules if os.path.exists(path)]
        self.seccomp = _unix_socket_filter()
        self.bounding_set_empty = False

    def empty_bounding_set(self) -> None:
        """Empty this process's bounding set now, for every child it forks from here on (the
        zygote, once: each run's `begin` then skips about 40 calls). Harmless to the zygote,
        which never execs, and keeps the capabilities it has (a run's setuid needs them)."""
        _empty_bounding_set()
        self.bounding_set_empty = True

    def begin(self) -> int:
        """A new ruleset holding every run's rules; its descriptor."""
        ruleset = _check(_syscall(_CREATE_RULESET, self.attr, ctypes.c_size_t(len(self.attr)),
                                  ctypes.c_uint32(0)), "landlock_create_ruleset")
        try:
            for path, rights in self.rules:
                _allow(ruleset, path, rights)
            _check(_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
            if not self.bounding_set_empty:
                _empty_bounding_set()
            if self.seccomp is not None:
                _check(_prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, self.seccomp[0], 0, 0),
                       "prctl(SECCOMP)")
        except BaseException:
            os.close(ruleset)
            raise
        return ruleset

    def finish(self, ruleset: int, workdir: str) -> None:
        """Confine this process to the ruleset and `workdir`, for good; closes the ruleset."""
        try:
            _allow(ruleset, workdir, self.everything)
            if os.geteuid() == 0:  # root keeps its uid but none of its powers
                _check(_capset(_CAP_HEADER, _NO_CAPABILITIES), "capset")
            _check(_syscall(_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)),
                   "landlock_restrict_self")
        finally:
            os.close(ruleset)


def confine(workdir: str, read: list[str], devices: list[str], write: list[str]) -> int:
    """Confine this process (see the module's docstring); answer the Landlock ABI used.

    Raises OSError if Landlock is missing or a step fails: a run is never started less
    confined than the server promised.
    """
    prepared = Prepared(read, devices, write)
    prepared.finish(prepared.begin(), workdir)
    return prepared.abi


def _allow(ruleset: int, path: str, rights: int) -> None:
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        rule = struct.pack("=Qi", rights, fd)  # landlock_path_beneath_attr is packed
        _check(_syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, rule, ctypes.c_uint32(0)),
               f"landlock_add_rule({path})")
    finally:
        os.close(fd)


def _empty_bounding_set() -> None:
    """No capability can come back on an exec: the bounding set is emptied (root only; it
    needs CAP_SETPCAP, and others have nothing to lose). The effective and permitted sets
    are cleared by `finish`, after the switch to the run's user, which needs them."""
    if os.geteuid() != 0:
        return
    for capability in range(64):
        if _prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            break  # past the last capability this kernel knows
    _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)


_CAP_HEADER = struct.pack("=Ii", _CAPABILITY_VERSION_3, 0)
_NO_CAPABILITIES = bytes(24)  # two of {effective, permitted, inheritable}, all zero


def unix_sockets_filtered() -> bool:
    """Whether this architecture gets the seccomp filter of _unix_socket_filter."""
    return os.uname().machine in _SECCOMP_TARGETS


def _unix_socket_filter() -> tuple[ctypes.c_char_p, ctypes.Array[ctypes.c_char]] | None:
    """A seccomp program refusing socket(AF_UNIX): (its sock_fprog, the buffer it points
    to, kept alive with it); None on an architecture without one."""
    target = _SECCOMP_TARGETS.get(os.uname().machine)
    if target is None:
        return None  # said by unix_sockets_filtered(), in /healthz
    arch, socket_call = target
    program = [
        (_LD_ABS, 0, 0, 4),              # 0: the calling convention
        (_JEQ, 0, 6, arch),              # 1: a foreign one (i386, x32 ...) -> 8, refused
        (_LD_ABS, 0, 0, 0),              # 2: the syscall's number
        (_JGE, 4, 0, _X32_BIT),          # 3: the x32 numbers -> 8
        (_JEQ, 0, 2, socket_call),       # 4: not socket() -> 7
        (_LD_ABS, 0, 0, 16),             # 5: its domain (args[0], low half)
        (_JEQ, 1, 0, _AF_UNIX),          # 6: AF_UNIX -> 8
        (_RET, 0, 0, _ALLOW),            # 7
        (_RET, 0, 0, _REFUSE),           # 8
    ]
    code = b"".join(struct.pack("=HBBI", *step) for step in program)
    filters = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("@HP", len(program), ctypes.addressof(filters))  # native: padded
    return ctypes.c_char_p(fprog), filters


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return int(result)


def main(argv: list[str]) -> None:
    """The wrapper: confine, then become the command (exec keeps the confinement)."""
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: confine.py POLICY_JSON -- COMMAND...\n")
        sys.exit(2)
    policy = json.loads(argv[0])
    try:
        confine(policy["workdir"], policy["read"], policy["devices"], policy["write"])
    except OSError as exc:
        sys.stderr.write(f"runplane: could not confine the run: {exc}\n")
        sys.exit(126)
    os.execv(argv[2], argv[2:])


if __name__ == "__main__":
    main(sys.argv[1:])
