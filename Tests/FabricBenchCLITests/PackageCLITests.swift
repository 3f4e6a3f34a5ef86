import Foundation
import XCTest

/// The tarball scripts/package.sh packs, as a node without Swift gets it. Packaging is a
/// release build of its own (minutes on 2 cores), so scripts/test.sh runs scripts/package.sh
/// once and names the tarball in FABRICBENCH_TARBALL; a plain `swift test` skips this with
/// the reason (and fails it under FABRICBENCH_REQUIRE_ALL=1).
final class PackageCLITests: XCTestCase {
    /// Libraries a packed binary may need: glibc's, the C++ runtime and zlib, all on every
    /// Linux node. No Swift runtime, and no rdma-core or libnuma (opened at run time).
    static let allowedLibraries: Set<String> = ["libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1", "libutil.so.1",
                                                 "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "libstdc++.so.6", "libgcc_s.so.1", "libz.so.1"]

    var tarball: String { ProcessInfo.processInfo.environment["FABRICBENCH_TARBALL"] ?? "" }

    /// The folder that holds the Swift runtime the test's own build of fabricbench loads
    /// (the toolchain's), as ldd resolves it.
    func swiftRuntimeFolder() throws -> String {
        let ldd = try CLI.run([CLI.binary], limit: 30, executable: "/usr/bin/ldd")
        let line = try XCTUnwrap(ldd.stdout.split(separator: "\n").first { $0.contains("libswiftCore.so => /") }, "no libswiftCore.so in: \(ldd.stdout)")
        let path = try XCTUnwrap(line.firstMatch(of: #/=> (/\S+)/#).map { String($0.1) })
        return URL(fileURLWithPath: path).deletingLastPathComponent().path
    }

    /// Runs `command` as a node without Swift would: in a mount namespace of its own where
    /// an empty tmpfs covers the toolchain's library folder (the command first checks that
    /// libswiftCore.so is gone), with `env -i`: nothing but PATH and an empty LD_LIBRARY_PATH.
    func withoutSwift(_ command: [String], in dir: URL, hiding folder: String) throws -> CLIRun {
        let script = """
        mount -t tmpfs -o size=1m fabricbench-no-swift "$0" || exit 90
        [ ! -e "$0/libswiftCore.so" ] || { echo "libswiftCore.so still visible" >&2; exit 91; }
        exec env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH= "$@"
        """
        return try CLI.run(["--mount", "--propagation", "private", "/bin/sh", "-c", script, folder] + command, limit: 120, in: dir,
                           executable: "/usr/bin/unshare")
    }

    func testTheTarballInstallsAndRunsWhereNoSwiftIs() throws {
        try Requirement.check(!tarball.isEmpty, "FABRICBENCH_TARBALL, a tarball from scripts/package.sh (scripts/test.sh packs one)")
        try Requirement.check(getuid() == 0, "root (a mount namespace hides the Swift toolchain)")
        let file = URL(fileURLWithPath: tarball)
        let name = file.lastPathComponent.replacingOccurrences(of: ".tar.gz", with: "")
        let arch = try CLI.run(["-m"], limit: 10, executable: "/usr/bin/uname").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let version = try XCTUnwrap(name.firstMatch(of: #/^fabricbench-([0-9]+\.[0-9]+\.[0-9]+)-linux-(.+)$/#), name)
        XCTAssertEqual(String(version.2), arch)

        // The checksum beside it holds (checked in dist/, while the test's own files stay in dir).
        let dir = CLI.temporaryDirectory()
        let sum = try CLI.run(["-c", #"cd "$0" && sha256sum -c "$1""#, file.deletingLastPathComponent().path, file.lastPathComponent + ".sha256"],
                              limit: 30, in: dir, executable: "/bin/sh")
        XCTAssertEqual(sum.status, 0, sum.stdout + sum.stderr)

        let untar = try CLI.run(["-xzf", file.path, "-C", dir.path], limit: 60, executable: "/bin/tar")
        XCTAssertEqual(untar.status, 0, untar.stderr)
        let root = dir.appendingPathComponent(name)
        let binary = root.appendingPathComponent("bin/fabricbench").path
        for part in ["bin/fabricbench", "install.sh", "share/man/man1/fabricbench.1", "share/man/man1/fabricbench.smoke.1",
                     "share/bash-completion/completions/fabricbench", "share/zsh/site-functions/_fabricbench",
                     "share/fish/vendor_completions.d/fabricbench.fish", "share/doc/fabricbench/README.md"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent(part).path), "\(part) is not in \(name)")
        }

        // What the dynamic linker is asked for: glibc and the like only, and no search path
        // into a toolchain (the linker's default $ORIGIN is the tarball's own bin/).
        let elf = try CLI.run(["-d", binary], limit: 30, executable: "/usr/bin/readelf")
        XCTAssertEqual(elf.status, 0, elf.stderr)
        let needed = elf.stdout.split(separator: "\n").filter { $0.contains("(NEEDED)") }.compactMap { $0.firstMatch(of: #/\[(.+)\]/#).map { String($0.1) } }
        XCTAssertTrue(needed.contains("libc.so.6"), elf.stdout)
        XCTAssertEqual(Set(needed).subtracting(Self.allowedLibraries), [], "libraries a node without Swift may lack: \(elf.stdout)")
        let searchPaths = elf.stdout.split(separator: "\n").filter { $0.contains("(RUNPATH)") || $0.contains("(RPATH)") }
        XCTAssertTrue(searchPaths.allSatisfy { $0.hasSuffix("[$ORIGIN]") }, elf.stdout)
        let ldd = try CLI.run([binary], limit: 30, executable: "/usr/bin/ldd")
        XCTAssertEqual(ldd.status, 0, ldd.stderr)
        XCTAssertNil(ldd.stdout.range(of: "swift|Foundation|dispatch|ibverbs|rdmacm|numa", options: [.regularExpression, .caseInsensitive]), ldd.stdout)

        let hidden = try swiftRuntimeFolder()
        // The isolation is real: the test's own build of fabricbench (Swift runtime linked
        // dynamically) cannot even start in it.
        let control = try withoutSwift([CLI.binary, "--version"], in: dir, hiding: hidden)
        XCTAssertEqual(control.status, 127, "the debug binary should not start without the toolchain: \(control.stdout)\(control.stderr)")
        XCTAssertTrue(control.stderr.contains("libswift"), control.stderr)

        // The version names the commit checked out now: the tarball is this tree's, not a stale one.
        let head = try CLI.run(["-C", CLI.packageRoot.path, "rev-parse", "--short=12", "HEAD"], limit: 30, executable: "/usr/bin/git")
        let clean = try CLI.run(["-C", CLI.packageRoot.path, "diff", "--quiet", "HEAD", "--"], limit: 30, executable: "/usr/bin/git")
        let commit = head.stdout.trimmingCharacters(in: .whitespacesAndNewlines) + (clean.status == 0 ? "" : "-dirty")
        let v = try withoutSwift([binary, "--version"], in: dir, hiding: hidden)
        XCTAssertEqual(v.status, 0, v.stderr)
        XCTAssertEqual(v.stdout, "fabricbench \(version.1) (commit \(commit))\n")

        // A checked loopback latency run, and the CI smoke suite, from the unpacked binary.
        let lat = try withoutSwift([binary, "latency", "--np", "2", "-b", "8", "-e", "4K", "-f", "8", "-n", "200", "-c", "1", "--json", "lat.json"],
                                   in: dir, hiding: hidden)
        XCTAssertEqual(lat.status, 0, lat.stdout + lat.stderr)
        let document = try CLI.json(dir.appendingPathComponent("lat.json"))
        XCTAssertEqual(document["status"] as? String, "complete", "\(document["status"] ?? "no status")")
        XCTAssertEqual((document["results"] as? [Any])?.count, 4, "8, 64, 512 and 4K")
        let environment = try XCTUnwrap(document["environment"] as? [String: Any])
        XCTAssertEqual(environment["fabricbench_commit"] as? String, commit)
        XCTAssertEqual(environment["fabricbench_version"] as? String, String(version.1))

        let smoke = try withoutSwift([binary, "smoke", "--junit", "smoke.xml"], in: dir, hiding: hidden)
        XCTAssertEqual(smoke.status, 0, smoke.stdout + smoke.stderr)
        XCTAssertTrue(smoke.stdout.contains("# smoke: 5 checks, 5 passed, 0 failed"), smoke.stdout)

        // install.sh puts the binary, man pages and completions under a prefix; the installed
        // binary runs there too.
        let prefix = dir.appendingPathComponent("prefix")
        let install = try withoutSwift(["/bin/sh", root.appendingPathComponent("install.sh").path, prefix.path], in: dir, hiding: hidden)
        XCTAssertEqual(install.status, 0, install.stdout + install.stderr)
        XCTAssertTrue(install.stdout.hasPrefix("fabricbench installed in \(prefix.path)/bin (fabricbench \(version.1) (commit \(commit)))"), install.stdout)
        for part in ["bin/fabricbench", "share/man/man1/fabricbench.1", "share/man/man1/fabricbench.smoke.1", "share/bash-completion/completions/fabricbench",
                     "share/zsh/site-functions/_fabricbench", "share/fish/vendor_completions.d/fabricbench.fish"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: prefix.appendingPathComponent(part).path), "install.sh did not install \(part)")
        }
        // A prefix that is a file, or two prefixes: one line, exit 2, nothing installed.
        let notFolder = prefix.appendingPathComponent("bin/fabricbench").path
        for (arguments, message) in [([notFolder], "install.sh: the prefix '\(notFolder)' exists and is not a folder"),
                                     ([prefix.path, "/opt"], "install.sh: takes one PREFIX at most (got 2)")] {
            let bad = try CLI.run([root.appendingPathComponent("install.sh").path] + arguments, limit: 30, in: dir, executable: "/bin/sh")
            XCTAssertEqual(bad.status, 2, bad.stdout + bad.stderr)
            XCTAssertTrue(bad.stderr.hasPrefix(message), bad.stderr)
            XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        }

        // The man page renders and documents the new commands' flags.
        let man = try CLI.run(["-l", prefix.appendingPathComponent("share/man/man1/fabricbench.smoke.1").path], environment: ["MANPAGER": "cat", "MANWIDTH": "100"],
                              limit: 30, executable: "/usr/bin/man")
        XCTAssertEqual(man.status, 0, man.stderr)
        XCTAssertTrue(man.stdout.contains("--max-latency-us"), man.stdout)
        XCTAssertTrue(man.stdout.contains("--junit"), man.stdout)

        // Bash completion completes subcommands and flags, with the installed script.
        let completion = prefix.appendingPathComponent("share/bash-completion/completions/fabricbench").path
        let bash = """
        source "$1"
        COMP_WORDS=(fabricbench sm); COMP_CWORD=1; COMP_LINE="fabricbench sm"; COMP_POINT=${#COMP_LINE}
        _fabricbench fabricbench sm fabricbench; echo "${COMPREPLY[*]}"; COMPREPLY=()
        COMP_WORDS=(fabricbench smoke --max-l); COMP_CWORD=2; COMP_LINE="fabricbench smoke --max-l"; COMP_POINT=${#COMP_LINE}
        _fabricbench fabricbench --max-l smoke; echo "${COMPREPLY[*]}"
        """
        let completed = try CLI.run(["-c", bash, "bash", completion], limit: 30, in: dir, executable: "/bin/bash")
        XCTAssertEqual(completed.status, 0, completed.stderr)
        XCTAssertEqual(completed.stdout.split(separator: "\n").map(String.init), ["smoke", "--max-latency-us"], completed.stderr)
    }
}
