// report_text.h — the text pieces the benchmark reports share (numbers,
// CSV fields, the head of a Markdown report).
//
// THREAD SAFETY: pure functions.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace canopy::bench {

// `v` through printf's `format` ("%.2f").
inline std::string Format(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// "2.35x", "12.4x", "153x"; "-" when not positive or not finite.
inline std::string Ratio(double r) {
  if (r <= 0 || !std::isfinite(r)) return "-";
  if (r < 10) return Format("%.2fx", r);
  if (r < 100) return Format("%.1fx", r);
  return Format("%.0fx", r);
}

// A CSV field in double quotes, inner quotes doubled.
inline std::string CsvQuote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// "- item\n" per item.
inline std::string MarkdownList(const std::vector<std::string>& items) {
  std::string md;
  for (const std::string& item : items) md += "- " + item + "\n";
  return md;
}

// "# title", the header lines as a list, the answers line in bold and the
// chart (when given) with `chart_alt`.
inline std::string MarkdownHead(const std::string& title, const std::vector<std::string>& lines,
                                const std::string& answers_line, const std::string& chart,
                                const std::string& chart_alt) {
  std::string md = "# " + title + "\n\n" + MarkdownList(lines);
  md += "\n**" + answers_line + "**\n\n";
  if (!chart.empty()) md += "![" + chart_alt + "](" + chart + ")\n\n";
  return md;
}

}  // namespace canopy::bench
