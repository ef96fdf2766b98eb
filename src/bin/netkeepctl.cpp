// netkeepctl: the operator's tool (audit log, state at a point in time, verify, backup,
// inventory check). Thin: everything is in src/ctl.

#include <cstdio>
#include <string_view>
#include <vector>

#include "ctl/ctl.hpp"
#include "netkeep/hardening.hpp"

int main(int argc, char** argv) {
    // Backups, scrubbed logs and token files it writes are private to its user.
    netkeep::restrict_new_files();
    std::vector<std::string_view> args(argv + 1, argv + argc);
    int code = netkeep::ctl::run(args, stdout, stderr);
    std::fflush(stdout);
    return code;
}
