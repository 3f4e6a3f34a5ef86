import ArgumentParser
import FabricEngine
import Foundation

/// The JSON's `arguments`: every option of a parsed command, as given or defaulted, keyed by
/// its flag name ("gid_index", "n", "busy_poll"). Derived from the declarations themselves, so
/// an option is stated once: its `@Option` gives the flag, the value and the recorded entry.
///
/// ArgumentParser lists a command's arguments in declaration order (option groups inline);
/// a Mirror over the parsed command walks the same properties in the same order, so the two
/// zip into (flag name, value).
enum RecordedArguments {
    /// Never written anywhere: secrets stay out of the JSON.
    static let secret: Set<String> = ["job_token"]

    static func of<Command: ParsableCommand>(_ command: Command) -> [String: String] {
        var values: [String] = []
        collect(command, into: &values)
        let names = flagNames(Command.self)
        precondition(names.count == values.count, "\(Command.self): \(names.count) declared arguments, \(values.count) recorded values")
        var out: [String: String] = [:]
        for (name, value) in zip(names, values) where !secret.contains(name) { out[name] = value }
        return out
    }

    /// The command line as the JSON keeps it: secrets' values replaced.
    static func redacted(_ argv: [String]) -> [String] {
        var out: [String] = []
        var hideNext = false
        for word in argv {
            defer { hideNext = secret.contains(where: { word == ArgumentSpelling.flag($0) }) }
            if hideNext { out.append("(redacted)"); continue }
            if let flag = secret.map(ArgumentSpelling.flag).first(where: { word.hasPrefix($0 + "=") }) {
                out.append(flag + "=(redacted)")
                continue
            }
            out.append(word)
        }
        return out
    }

    /// Options that may differ between ranks: where a rank runs, writes and waits, and what
    /// rank 0 alone does with the results. Every other recorded argument must agree on all ranks.
    static let rankLocal: Set<String> = [
        "np", "rank", "world_size", "master", "json", "csv", "junit", "prom", "cpus", "clock", "timeout", "device", "port", "gid_index",
        "iface", "bind", "numa", "busy_poll", "sock_buf", "events", "inline", "tc", "sl", "mtu", "histogram",
        "min_busbw", "max_time_us", "straggler_k", "inject_delay", "outlier_k", "outlier_ratio", "fail_on_outlier",
        "host_label", "histograms",
    ]

    /// What the ranks compare at start: the command and every argument that is not rank-local.
    static func measurement(command: String, _ arguments: [String: String]) -> [String: String] {
        var out = arguments.filter { !rankLocal.contains($0.key) }
        out["command"] = command
        return out
    }


    private struct ToolInfo: Decodable {
        struct Command: Decodable { var arguments: [Argument]? }
        struct Argument: Decodable {
            struct Name: Decodable { var name: String }
            var preferredName: Name?
        }
        var command: Command
    }

    private static func flagNames(_ type: any ParsableCommand.Type) -> [String] {
        let info = try? JSONDecoder().decode(ToolInfo.self, from: Data(type._dumpHelp().utf8))
        var names: [String] = []
        for name in (info?.command.arguments ?? []).compactMap({ $0.preferredName?.name }) where name != "help" && name != "version" {
            // An inverted flag (--retest/--no-retest) is one property listed twice.
            if let last = names.last, name == "no-" + last { continue }
            names.append(name)
        }
        return names.map { $0.replacingOccurrences(of: "-", with: "_") }
    }

    private static func collect(_ value: Any, into values: inout [String]) {
        for child in Mirror(reflecting: value).children {
            if let group = child.value as? any OptionGroupValue {
                collect(group.parsedArguments, into: &values)
            } else if let argument = child.value as? any RecordableArgument {
                values.append(text(argument.parsedValue))
            }
        }
    }

    /// One spelling per type, as the JSON has always had it: "" for an unset optional,
    /// raw values for enums, byte counts as numbers.
    static func text(_ value: Any) -> String {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            guard let some = mirror.children.first?.value else { return "" }
            return text(some)
        }
        switch value {
        case let size as ByteSize: return "\(size.bytes)"
        case let raw as any RawRepresentable: return "\(raw.rawValue)"
        default: return "\(value)"
        }
    }
}

protocol RecordableArgument { var parsedValue: Any { get } }
extension Option: RecordableArgument { var parsedValue: Any { wrappedValue } }
extension Flag: RecordableArgument { var parsedValue: Any { wrappedValue } }
extension Argument: RecordableArgument { var parsedValue: Any { wrappedValue } }

protocol OptionGroupValue { var parsedArguments: Any { get } }
extension OptionGroup: OptionGroupValue { var parsedArguments: Any { wrappedValue } }
