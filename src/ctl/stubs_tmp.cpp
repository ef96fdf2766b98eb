#include "ctl/commands.hpp"
namespace netkeep::ctl {
int run_backup(const Options& o, Io io) { return fail(o, io, "backup: not built yet"); }
}
