// rankpool-trace: converts a binary rankpool trace into the Chrome trace JSON. A pool converts its
// own trace when it shuts down; a run that was killed leaves only the binary file beside the
// JSON path (run.json.rptrace), and this program turns it into what Perfetto opens.
//   rankpool-trace run.json.rptrace [out.json]   (default: the binary's name without .rptrace)

#include <cstdio>
#include <exception>
#include <string>

#include "observe/trace_file.hpp"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: rankpool-trace <run.json.rptrace> [<out.json>]\n");
    return 2;
  }
  const std::string in = argv[1];
  const std::string suffix = ".rptrace";
  std::string out = argc > 2 ? argv[2] : in;
  if (argc == 2) {
    if (out.size() > suffix.size() && out.compare(out.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.resize(out.size() - suffix.size());
    else
      out += ".json";
  }
  try {
    const auto c = rankpool::detail::convert_trace(in, out);
    std::printf("rankpool-trace: %s: %llu records%s\n", out.c_str(), static_cast<unsigned long long>(c.records),
                c.complete ? "" : " (the run did not finish: the trace ends where it was cut off)");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rankpool-trace: %s\n", e.what());
    return 1;
  }
}
