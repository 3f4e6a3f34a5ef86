import Foundation
import XCTest

/// The HTML report, checked in a real browser: Debian's chromium (scripts/install-deps.sh)
/// renders it headless to a PNG and dumps the DOM after its script ran.
final class ReportCLITests: XCTestCase {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: FileManager.default.isExecutableFile)

    func browser(_ arguments: [String], in dir: URL) throws -> CLIRun {
        let chromium = try Requirement.path(Self.chromium.map { [$0] } ?? [], "chromium (Debian's chromium)")
        return try CLI.run(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=\(dir.path)/profile"] + arguments,
                           limit: 90, in: dir, executable: chromium)
    }

    func testReportRendersEveryChartInHeadlessChromium() throws {
        let dir = CLI.temporaryDirectory()
        let path = { (name: String) in dir.appendingPathComponent(name).path }
        for (arguments, file) in [
            (["latency", "--np", "2", "-b", "8", "-e", "4K", "-f", "8", "-n", "300"], "lat-a.json"),
            (["latency", "--np", "2", "-b", "8", "-e", "4K", "-f", "8", "-n", "300"], "lat-b.json"),
            (["allreduce", "--np", "2", "-b", "8", "-e", "1M", "-f", "8", "-n", "3", "--algo", "ring"], "ring.json"),
            (["allreduce", "--np", "2", "-b", "8", "-e", "1M", "-f", "8", "-n", "3", "--algo", "tree"], "tree.json"),
            (["matrix", "--np", "3", "-n", "100", "--bw-size", "16K"], "matrix.json"),
        ] {
            let r = try CLI.run(arguments + ["--json", path(file)], in: dir)
            XCTAssertEqual(r.status, 0, "\(arguments): \(r.stderr)")
        }
        let html = path("report.html")
        let r = try CLI.run(["report", path("lat-a.json"), path("lat-b.json"), path("ring.json"), path("tree.json"), path("matrix.json"),
                             "-o", html, "--title", "test report"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("# report written to \(html)"), r.stdout)

        // Self-contained: nothing is fetched from anywhere.
        let text = try String(contentsOfFile: html, encoding: .utf8)
        XCTAssertFalse(text.contains("src="), "no external scripts or images")
        XCTAssertEqual(text.components(separatedBy: "http").count - 1, text.components(separatedBy: "http://www.w3.org/2000/svg").count - 1,
                       "the only URL is the SVG namespace")

        let png = path("report.png")
        let shot = try browser(["--screenshot=\(png)", "--window-size=1280,3000", "file://\(html)"], in: dir)
        XCTAssertEqual(shot.status, 0, shot.stderr)
        let image = try Data(contentsOf: URL(fileURLWithPath: png))
        XCTAssertEqual(Array(image.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "a PNG")
        let width = image[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = image[20..<24].reduce(0) { $0 << 8 | Int($1) }
        XCTAssertEqual([width, height], [1280, 3000])
        XCTAssertGreaterThan(image.count, 50_000, "a page with charts, not a blank one")

        let dom = try browser(["--dump-dom", "file://\(html)"], in: dir)
        XCTAssertEqual(dom.status, 0, dom.stderr)
        let drawn = try XCTUnwrap(Int(try XCTUnwrap(capture(#"data-charts-drawn="(\d+)""#, dom.stdout))))
        let total = try XCTUnwrap(Int(try XCTUnwrap(capture(#"data-charts="(\d+)""#, dom.stdout))))
        XCTAssertEqual(drawn, total, "every chart laid out with something drawn")
        // 2 latency overview + busbw, per latency run 1 percentile plot + 4 histograms, 2 collective time charts, 3 heatmaps.
        XCTAssertEqual(total, 2 + 2 * 5 + 2 + 3)
        for chart in ["latency-runs", "busbw", "percentiles-0", "histogram-1-4096", "collective-time-2", "matrix-latency-4", "matrix-bandwidth-4"] {
            XCTAssertTrue(dom.stdout.contains("data-chart=\"\(chart)\""), "chart \(chart) missing")
        }
        XCTAssertTrue(dom.stdout.contains("ring.json ring") && dom.stdout.contains("tree.json tree"), "one busbw line per algorithm")
        XCTAssertTrue(dom.stdout.contains("Not compared: cannot compare a latency run"), "five files of three commands are not compared")

        // Two runs of one command: the comparison view.
        let pair = path("pair.html")
        XCTAssertEqual(try CLI.run(["report", path("lat-a.json"), path("lat-b.json"), "-o", pair], in: dir).status, 0)
        let compared = try browser(["--dump-dom", "file://\(pair)"], in: dir)
        XCTAssertTrue(compared.stdout.contains("<section id=\"compare\">"), compared.stdout)
        XCTAssertTrue(compared.stdout.contains("latency p50:"), "the verdict per metric")

        let bad = try CLI.run(["report", path("missing.json"), "-o", path("x.html")], in: dir)
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("cannot read"), bad.stderr)
    }

    private func capture(_ pattern: String, _ text: String) -> String? {
        guard let regex = try? NSRegularExpression(pattern: pattern),
              let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
              let range = Range(match.range(at: 1), in: text) else { return nil }
        return String(text[range])
    }
}
