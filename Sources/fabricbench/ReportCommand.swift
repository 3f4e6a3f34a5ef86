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
        (as 'fabricbench compare'). A `model --json` file gives, per size, time against rank count \
        per algorithm and profile, and the jitter amplification against rank count. Inline SVG \
        and CSS only: the file opens offline.

        Examples:
          fabricbench report latency.json -o report.html
          fabricbench report ring.json tree.json matrix.json -o cluster.html --title "rack 12"
          fabricbench report prediction.json -o scale.html
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
        var runs: [(path: String, document: AnyRunDocument)] = []
        var models: [(path: String, document: ModelDocument)] = []
        do {
            for path in files {
                if let model = try ModelDocument.read(path) {
                    models.append((path, model))
                } else {
                    runs.append((path, try AnyRunDocument.read(path, shapes: FabricBench.resultShapes)))
                }
            }
        } catch let error as ReportError {
            throw RankFailure(description: error.singleLine, code: 2)
        }
        let html = HTMLReport.render(runs, models: models, title: title)
        try JSONReport.writeAtomically(Data(html.utf8), to: output, flag: "-o")
        print("# report written to \(output) (\(html.utf8.count / 1024) KiB, \(files.count) result file\(files.count == 1 ? "" : "s"))")
    }
}
