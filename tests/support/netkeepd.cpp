#include "support/netkeepd.hpp"

#include <cstdlib>

namespace netkeep::testing {

Result<std::filesystem::path> netkeepd_path() {
    const char* path = std::getenv("NETKEEPD");
    if (path == nullptr || *path == '\0') {
        return Status::invalid_argument(
            "NETKEEPD is not set: run the integration tests through meson test");
    }
    return std::filesystem::path(path);
}

Result<RunningServer> start_netkeepd(std::vector<std::string> args, SpawnOptions spawn,
                                     std::chrono::milliseconds timeout) {
    auto binary = netkeepd_path();
    if (!binary) return binary.status();
    args.insert(args.begin(), binary->string());
    auto process = Process::spawn(std::move(args), std::move(spawn));
    if (!process) return process.status();

    auto line = process->read_line(timeout);
    if (!line) {
        return Status::unavailable("netkeepd did not report listening (" + line.status().message() +
                                   "); stderr: " + process->stderr_text());
    }
    constexpr std::string_view k_prefix = "listening on ";
    std::string_view text = *line;
    auto colon = text.rfind(':');
    if (!text.starts_with(k_prefix) || colon == std::string_view::npos || colon < k_prefix.size()) {
        return Status::corruption("unexpected first line from netkeepd: '" + *line + "'");
    }
    std::string host(text.substr(k_prefix.size(), colon - k_prefix.size()));
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    unsigned long port = 0;
    try {
        port = std::stoul(std::string(text.substr(colon + 1)));
    } catch (const std::exception&) {
        port = 0;
    }
    if (port == 0 || port > 65535) return Status::corruption("bad port in '" + *line + "'");
    return RunningServer{std::move(process.value()), std::move(host),
                         static_cast<std::uint16_t>(port)};
}

}  // namespace netkeep::testing
