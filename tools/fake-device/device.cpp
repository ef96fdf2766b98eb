#include "device.hpp"

#include "personality.hpp"

namespace netkeep::fake_device {

bool valid_device_name(std::string_view name) {
    if (name.empty() || name.size() > 255) return false;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

Fault fault_of(std::string_view name) {
    // "hang-r1" and plain "hang" both name the mode: the first '-'-separated field, after
    // a personality's "<platform>--" prefix ("junos--hang-1").
    name = host_name(name);
    auto prefix = name.substr(0, name.find('-'));
    if (prefix == "badpass") return Fault::badpass;
    if (prefix == "slow") return Fault::slow;
    if (prefix == "hang") return Fault::hang;
    if (prefix == "drop") return Fault::drop;
    if (prefix == "promptline") return Fault::promptline;
    if (prefix == "huge") return Fault::huge;
    return Fault::none;
}

std::string_view fault_name(Fault fault) {
    switch (fault) {
        case Fault::none:
            return "none";
        case Fault::badpass:
            return "badpass";
        case Fault::slow:
            return "slow";
        case Fault::hang:
            return "hang";
        case Fault::drop:
            return "drop";
        case Fault::promptline:
            return "promptline";
        case Fault::huge:
            return "huge";
    }
    return "none";
}

}  // namespace netkeep::fake_device
