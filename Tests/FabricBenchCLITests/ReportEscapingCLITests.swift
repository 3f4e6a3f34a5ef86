import Foundation
import XCTest

/// Every string of a result file that reaches the HTML report is escaped: real files with
/// markup, quotes and ampersands in every string field (and file name), rendered by the CLI,
/// then parsed by a real HTML parser (Python's html.parser).
final class ReportEscapingCLITests: XCTestCase {
    /// Breaks out of an attribute, opens a script, and names the field it was put in.
    static func hostile(_ field: String) -> String { #"">'<script>alert(1)</script>&amp;"# + "@" + field + "@" }

    /// Strings that must stay as they are for the file to load: the command selects the shape,
    /// the status and a verdict's metric, subject and direction are enumerations, histograms are base64.
    static let structural: Set<String> = ["command", "status", "histogram", "window_histogram", "metric", "subject", "direction"]

    /// A real file with a marked hostile string in every other string field and every key of
    /// `arguments`, `settings` and `libraries` (their values are marked with the object's name);
    /// `variant` makes the two files of a pair differ, so compare warns, quoting them.
    func poisoned(_ text: String, variant: String) throws -> JSONValue {
        try XCTUnwrap(JSONValue.parse(text)).mappingStrings(["arguments", "settings", "libraries"]) { field, _ in
            Self.structural.contains(field) ? nil : Self.hostile(field) + variant
        }
    }

    /// A matrix verdict whose text is marked `field`.
    static func verdict(_ field: String) -> JSONValue {
        .object([.init(key: "ranks", value: .array([.number("0"), .number("1")])), .init(key: "metric", value: .string("latency_p50_us")),
                 .init(key: "value", value: .number("2")), .init(key: "median", value: .number("1")), .init(key: "ratio", value: .number("2")),
                 .init(key: "text", value: .string(hostile(field)))])
    }

    /// A matrix suspect whose host and text are marked `field`.
    static func suspect(_ field: String) -> JSONValue {
        .object([.init(key: "subject", value: .string("host")), .init(key: "hosts", value: .array([.string(hostile(field + ".host"))])),
                 .init(key: "ranks", value: .array([.number("0")])), .init(key: "direction", value: .string("sends")),
                 .init(key: "metric", value: .string("bandwidth_gbps")), .init(key: "between_hosts", value: .bool(true)),
                 .init(key: "value", value: .number("1")), .init(key: "reference", value: .number("2")), .init(key: "ratio", value: .number("0.5")),
                 .init(key: "text", value: .string(hostile(field)))])
    }

    func testEveryStringFromAFileIsEscapedInTheReport() throws {
        let python = try Requirement.path(["/usr/bin/python3"], "python3 (Debian's python3, for html.parser)")
        let texts = try RealResultFiles.texts.get()
        let dir = CLI.temporaryDirectory()
        // File names are strings from the outside too (any byte but '/').
        let name = { (what: String) in "\(what)-\"'<script>alert(1)&amp;.json" }
        var paths: [String: String] = [:]
        for (command, variant) in [("latency", "a"), ("latency", "b"), ("bandwidth", "a"), ("allreduce", "a"), ("allreduce", "b"), ("matrix", "a")] {
            var json = try poisoned(texts[command]!, variant: variant)
            if command == "matrix", case .object(let top) = json, let results = top.firstIndex(where: { $0.key == "results" }) {
                // Verdicts, suspects and transient flags, so that their texts are rendered too.
                json = json.updating([.member(results), .element(0)]) { entry in
                    guard case .object(var members) = entry else { return entry }
                    for key in ["verdicts", "transient", "diagnosis", "transient_suspects"] {
                        let list = JSONValue.array([key.contains("suspect") || key == "diagnosis" ? Self.suspect(key) : Self.verdict(key)])
                        if let i = members.firstIndex(where: { $0.key == key }) { members[i].value = list } else { members.append(.init(key: key, value: list)) }
                    }
                    return .object(members)
                }
            }
            let text = json.text
            let path = dir.appendingPathComponent(name("\(command)-\(variant)")).path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            paths["\(command)-\(variant)"] = path
        }

        let checker = dir.appendingPathComponent("check.py")
        try Self.checker.write(to: checker, atomically: true, encoding: .utf8)
        func check(_ files: [String], expecting fields: [String]) throws {
            let html = dir.appendingPathComponent("report-\(files.count).html").path
            let r = try CLI.run(["report"] + files.map { paths[$0]! } + ["-o", html], in: dir)
            XCTAssertEqual(r.status, 0, r.stderr)
            let parsed = try CLI.run([checker.path, html], in: dir, executable: python)
            XCTAssertEqual(parsed.status, 0, parsed.stderr)
            let result = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(parsed.stdout.utf8)) as? [String: Any], parsed.stdout)
            XCTAssertEqual(result["script_elements"] as? Int, 1, "only the report's own render check is a script")
            XCTAssertEqual(result["script_in_source"] as? Int, 1, "no unescaped <script anywhere in the source")
            XCTAssertEqual(result["unexpected_attributes"] as? [String], [], "a quote broke out of an attribute")
            XCTAssertEqual(result["hostile_attribute_values"] as? [String], [], "file text inside an attribute")
            XCTAssertEqual(result["unexpected_elements"] as? [String], [])
            // The marked strings did reach the page, as text.
            let shown = Set(result["fields_in_text"] as? [String] ?? [])
            for field in fields { XCTAssertTrue(shown.contains(field), "\(field) is not on the page (shown: \(shown.sorted()))") }
            XCTAssertTrue((result["file_names_in_text"] as? Int ?? 0) > 0, "the file names are on the page")
        }
        // Every command's sections, and a comparison that is refused (its error quotes paths).
        try check(["latency-a", "bandwidth-a", "allreduce-a", "matrix-a"],
                  expecting: ["kind", "settings.key", "settings", "cpu_model", "kernel", "launcher", "fabricbench_version", "rank_hosts",
                              "algo", "summary", "rule", "transient", "diagnosis", "diagnosis.host", "transient_suspects"])
        // Two runs of one command: the comparison, whose warnings quote every differing field.
        try check(["latency-a", "latency-b"], expecting: ["kernel", "cpu_model", "fabricbench_version", "kind", "clock_source", "libraries.key",
                                                          "libraries", "arguments.key", "arguments", "rank_hosts"])
        try check(["allreduce-a", "allreduce-b"], expecting: ["algo", "summary", "kernel"])
    }

    /// Prints what the parser saw: script elements, attributes outside the report's vocabulary,
    /// attribute values holding file text, and which marked fields appear as text.
    static let checker = #"""
    import html.parser, json, re, sys
    ALLOWED_ATTRIBUTES = {"lang", "charset", "name", "content", "class", "id", "href", "data-chart", "xmlns", "viewbox", "width",
                          "height", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "d", "fill", "stroke", "stroke-dasharray",
                          "text-anchor", "transform"}
    ALLOWED_ELEMENTS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "section", "table", "caption", "tr",
                        "th", "td", "a", "span", "div", "svg", "text", "line", "rect", "path", "circle", "script"}
    class Checker(html.parser.HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.scripts = 0; self.attributes = []; self.hostile = []; self.elements = []; self.text = []
        def handle_starttag(self, tag, attrs):
            if tag == "script": self.scripts += 1
            if tag not in ALLOWED_ELEMENTS: self.elements.append(tag)
            for name, value in attrs:
                if name not in ALLOWED_ATTRIBUTES: self.attributes.append(name)
                if value and ("alert" in value or "@" in value): self.hostile.append(f"{tag} {name}={value}")
        def handle_startendtag(self, tag, attrs): self.handle_starttag(tag, attrs)
        def handle_data(self, data): self.text.append(data)
    source = open(sys.argv[1], encoding="utf-8").read()
    c = Checker(); c.feed(source); c.close()
    text = "".join(c.text)
    marker = "\">'<script>alert(1)</script>&amp;@"
    fields = sorted({m.group(1) for m in re.finditer(re.escape(marker) + r"([^@]*)@", text)})
    print(json.dumps({"script_elements": c.scripts, "script_in_source": len(re.findall("<script", source, re.I)),
                      "unexpected_attributes": sorted(set(c.attributes)), "hostile_attribute_values": c.hostile[:5],
                      "unexpected_elements": sorted(set(c.elements)), "fields_in_text": fields,
                      "file_names_in_text": text.count("-\"'<script>alert(1)&amp;.json")}))
    """#
}
