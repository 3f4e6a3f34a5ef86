import ArgumentParser
import FabricReport
import FabricResults
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Render result files as one self-contained HTML page with charts.",
        discussion: """
        Charts: latency by percentile and binned histograms per size, bandwidth vs size, busbw vs \
        size per algorithm (give a ring and a tree run to see their crossover), the link-matrix \
        heatmaps with outliers outlined, and for several runs of one command the comparison \
        (as 'fabricbench compare'). Inline SVG and CSS only: the file opens offline.

        Examples:
          fabricbench report latency.json -o report.html
          fabricbench report ring.json tree.json matrix.json -o cluster.html --title "rack 12"
        """)

    @Argument(help: ArgumentHelp("Result files written with --json.", valueName: "result.json"))
    var files: [String] = []

    @Option(name: .customShort("o"), help: "The HTML file to write.")
    var output: String

    @Option(help: "The page's title.")
    var title = "FabricBench report"

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("report needs at least one result file: fabricbench report RESULT.json -o report.html") }
        guard output.hasSuffix(".html") || output.hasSuffix(".htm") else {
            throw ValidationError("-o \(output): the report is HTML; name it *.html")
        }
    }

    func run() throws {
        let runs: [(path: String, document: AnyRunDocument)]
        do {
            runs = try files.map { (path: $0, document: try AnyRunDocument.read($0, shapes: FabricBench.resultShapes)) }
        } catch let error as ReportError {
            throw RankFailure(description: error.singleLine, code: 2)
        }
        let html = HTMLReport.render(runs, title: title)
        try JSONReport.writeAtomically(Data(html.utf8), to: output, flag: "-o")
        print("# report written to \(output) (\(html.utf8.count / 1024) KiB, \(runs.count) result file\(runs.count == 1 ? "" : "s"))")
    }
}
