#include "config_gen.hpp"

#include <array>

#include <fmt/format.h>

#include "device.hpp"

namespace netkeep::fake_device {
namespace {

// splitmix64: tiny, deterministic on every platform (std:: distributions are not).
class Prng {
public:
    explicit Prng(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    unsigned below(unsigned n) { return static_cast<unsigned>(next() % n); }

private:
    std::uint64_t state_;
};

std::uint64_t fnv1a(std::string_view text) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : text) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

constexpr std::array k_sites = {"ams1", "fra2", "lon3", "par1", "nyc4", "sjc2", "sin1", "syd3"};
constexpr std::array k_roles = {"server", "printer", "camera", "ap", "desk", "phone", "lab", "ups"};
constexpr std::array k_days = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array k_months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::string header(std::string_view name, std::uint64_t generation, std::uint64_t seed) {
    Prng rng(seed);
    const unsigned a = rng.below(200) + 10;
    const unsigned b = rng.below(250) + 1;
    const std::string site = k_sites[rng.below(k_sites.size())];
    // The generation-dependent lines: a change timestamp, a logging host and a circuit id.
    const std::uint64_t minutes = generation * 97 + rng.below(1000);
    std::string out;
    out += fmt::format("hostname {}\n!\n", name);
    out += fmt::format(
        "! Last configuration change at {:02}:{:02}:{:02} UTC {} {} {} 2024 by admin\n",
        (minutes / 60) % 24, minutes % 60, (generation * 13) % 60,
        k_days[generation % k_days.size()], k_months[(generation / 28) % 12], generation % 28 + 1);
    out += "!\nversion 15.2\n";
    out += "service timestamps debug datetime msec\nservice timestamps log datetime msec\n";
    out += "service password-encryption\n!\nboot-start-marker\nboot-end-marker\n!\n";
    out += fmt::format("logging buffered 64000 informational\nlogging host 10.{}.{}.{}\n!\n", a, b,
                       generation % 200 + 20);
    out += fmt::format("enable secret 9 $9${:016x}\n!\naaa new-model\n", rng.next());
    out += "aaa authentication login default local\naaa authorization exec default local\n!\n";
    out += fmt::format("ip domain name {}.example.net\nip name-server 10.{}.0.53\n!\n", site, a);
    out += fmt::format("username admin privilege 15 secret 9 $9${:016x}\n!\n", rng.next());
    out += fmt::format("snmp-server location {} row {} rack {}\n", site, rng.below(20) + 1,
                       rng.below(40) + 1);
    out += "snmp-server contact noc@example.net\n";
    out += fmt::format("ntp server 10.{}.0.123\n!\n", a);
    out += fmt::format("interface Loopback0\n ip address 10.255.{}.{} 255.255.255.255\n!\n", a, b);
    out += fmt::format(
        "interface TenGigabitEthernet0/1\n description uplink to core-{}-1 circuit {}-{}\n"
        " ip address 10.{}.{}.1 255.255.255.252\n no shutdown\n!\n",
        site, rng.below(9000) + 1000, generation + 1, a, b);
    return out;
}

std::string interface_block(Prng& rng, std::size_t index) {
    const std::size_t slot = index / 48 + 1;
    const std::size_t port = index % 48 + 1;
    std::string out = fmt::format("interface GigabitEthernet{}/0/{}\n", slot, port);
    if (rng.below(6) == 0) {
        out += " shutdown\n!\n";
        return out;
    }
    out += fmt::format(" description {}-{}\n", k_roles[rng.below(k_roles.size())],
                       rng.below(900) + 100);
    out +=
        fmt::format(" switchport access vlan {}\n switchport mode access\n", rng.below(400) + 100);
    if (rng.below(2) == 0) out += " spanning-tree portfast\n";
    out += "!\n";
    return out;
}

std::string acl_block(Prng& rng, std::size_t index) {
    std::string out = fmt::format("ip access-list extended ACL-{}\n", index + 100);
    const unsigned entries = rng.below(4) + 2;
    for (unsigned i = 0; i < entries; ++i) {
        out += fmt::format(" permit tcp 10.{}.{}.0 0.0.0.255 any eq {}\n", rng.below(250),
                           rng.below(250), std::array{22, 80, 443, 161, 514}[rng.below(5)]);
    }
    out += " deny   ip any any log\n!\n";
    return out;
}

std::string banner_block(std::string_view name) {
    // The prompt as a line of its own, as a banner can hold it on a real device.
    return fmt::format("banner motd ^C\nAuthorized access only.\n{}#\nDisconnect now.\n^C\n!\n",
                       name);
}

constexpr std::string_view k_trailer =
    "line con 0\n exec-timeout 0 0\n logging synchronous\n"
    "line vty 0 4\n exec-timeout 15 0\n transport input ssh\n!\nend\n";

std::size_t digits(std::size_t n) {
    std::size_t d = 1;
    while (n >= 10) {
        n /= 10;
        ++d;
    }
    return d;
}

}  // namespace

std::string generate_config(std::string_view name, std::uint64_t generation,
                            std::size_t target_bytes) {
    const Fault fault = fault_of(name);
    if (fault == Fault::huge) target_bytes = k_huge_config_bytes;
    const std::uint64_t seed = fnv1a(name);

    constexpr std::string_view k_head = "Building configuration...\n\nCurrent configuration : ";
    constexpr std::string_view k_after_count = " bytes\n!\n";

    std::string body = header(name, generation, seed);
    body.reserve(target_bytes + 4096);
    // Filler stops when the next block would pass the target; the fixed parts come first.
    const std::size_t fixed = k_head.size() + k_after_count.size() + 8 + k_trailer.size();
    Prng rng(seed ^ 0x5bd1e995ULL);
    bool banner_done = fault != Fault::promptline;
    std::size_t interfaces = 0;
    std::size_t acls = 0;
    while (true) {
        if (!banner_done && fixed + body.size() >= target_bytes / 2) {
            body += banner_block(name);
            banner_done = true;
        }
        std::string block = (interfaces % 8 == 7 && acls < interfaces / 8)
                                ? acl_block(rng, acls++)
                                : interface_block(rng, interfaces++);
        if (fixed + body.size() + block.size() > target_bytes) break;
        body += block;
    }
    if (!banner_done) body += banner_block(name);
    body += k_trailer;

    // "Current configuration : N bytes" counts the whole text, N's own digits included.
    const std::size_t rest = k_head.size() + k_after_count.size() + body.size();
    std::size_t total = rest + 1;
    while (digits(total) != total - rest) total = rest + digits(total);

    std::string out;
    out.reserve(total);
    out += k_head;
    out += std::to_string(total);
    out += k_after_count;
    out += body;
    return out;
}

}  // namespace netkeep::fake_device
