// copy_text.h — splits one line of PostgreSQL's COPY text format into fields.
//
// Format (https://www.postgresql.org/docs/15/sql-copy.html, "Text Format"):
// fields separated by a tab, a line ends with a newline, \N is NULL, and a
// backslash escapes \b \f \n \r \t \v \\, \digits (octal) and \xhh (hex); a
// backslash before any other character stands for that character.
//
// THREAD SAFETY: stateless.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "canopy/status.h"
#include "row_builder.h"

namespace canopy::cdc::internal {

// Splits `line` (without or with its trailing newline) into `fields`. A
// field's text points into `line` when it has no escapes, else into
// `scratch`, which this call sizes (so it must not be touched until the
// fields are used). Errors (kDataLoss): a backslash at the end of the line.
Status SplitCopyLine(std::string_view line, std::vector<FieldValue>* fields, std::string* scratch);

}  // namespace canopy::cdc::internal
