#pragma once
// Human output of netkeepctl: aligned columns. Pure.

#include <string>
#include <vector>

namespace netkeep::ctl {

// Rows (the first is the header) padded to the widest cell of each column, two spaces
// apart; the last column is not padded. Every line ends in '\n'.
std::string format_table(const std::vector<std::vector<std::string>>& rows);

}  // namespace netkeep::ctl
