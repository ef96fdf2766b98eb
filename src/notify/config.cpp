// notify.json with simdjson, in the inventory loader's manner: strict, bounded, every error
// naming the file and the JSON pointer, never a secret's value.

#include "notify/config.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <system_error>

#include <fmt/format.h>
#include <simdjson.h>

#include "netkeep/json.hpp"

namespace netkeep::notify {

namespace {

namespace dom = simdjson::dom;

Status fail(const json_path& path, std::string_view message) {
    std::string where = path.str();
    return Status::invalid_argument(
        fmt::format("{}: {}: {}", k_config_file, where.empty() ? "/" : where, message));
}

// Target names become meta keys, metric labels and file-name-like identifiers.
bool valid_name(std::string_view name) {
    if (name.empty() || name.size() > 64 || name.front() == '.') return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    });
}

// No CR, LF or other control byte: values that go into mail and HTTP headers.
bool header_safe(std::string_view s) {
    return std::none_of(s.begin(), s.end(),
                        [](char c) { return (unsigned char)c < 0x20 || c == 0x7f; });
}

class parser {
public:
    explicit parser(const NotifyLoadOptions& options) : options_(options) {}

    Result<NotifyConfig> parse(std::string_view text) {
        if (text.size() > k_max_file_bytes)
            return Status::invalid_argument(
                fmt::format("{}: larger than {} bytes", k_config_file, k_max_file_bytes));
        dom::element root;
        if (auto err = parser_.parse(text.data(), text.size()).get(root))
            return Status::invalid_argument(
                fmt::format("{}: not valid JSON: {}", k_config_file, simdjson::error_message(err)));
        auto obj = object_at(root, root_, {"targets", "rules"});
        if (!obj) return obj.status();
        NotifyConfig config;
        if (dom::element targets; !obj->at_key("targets").get(targets)) {
            if (Status s = parse_targets(targets, child(root_, "targets"), config); !s) return s;
        }
        if (dom::element rules; !obj->at_key("rules").get(rules)) {
            if (Status s = parse_rules(rules, child(root_, "rules"), config); !s) return s;
        }
        return config;
    }

private:
    Result<dom::object> object_at(dom::element el, const json_path& path,
                                  std::initializer_list<std::string_view> allowed) const {
        dom::object obj;
        if (el.get_object().get(obj)) return fail(path, "must be an object");
        std::vector<std::string_view> seen;
        for (auto [key, value] : obj) {
            (void)value;
            if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
                return fail(child(path, key), fmt::format("unknown field '{}'", json_escape(key)));
            if (std::find(seen.begin(), seen.end(), key) != seen.end())
                return fail(child(path, key), "appears twice");
            seen.push_back(key);
        }
        return obj;
    }

    Result<std::string> string_at(dom::element el, const json_path& path,
                                  std::size_t max = 1024) const {
        std::string_view s;
        if (el.get_string().get(s)) return fail(path, "must be a string");
        if (s.empty()) return fail(path, "must not be empty");
        if (s.size() > max) return fail(path, fmt::format("longer than {} bytes", max));
        return std::string(s);
    }

    Result<std::int64_t> integer_at(dom::element el, const json_path& path, std::int64_t min,
                                    std::int64_t max) const {
        std::int64_t v = 0;
        if (!el.is_int64() || el.get_int64().get(v)) return fail(path, "must be an integer");
        if (v < min || v > max) return fail(path, fmt::format("{} is outside {}..{}", v, min, max));
        return v;
    }

    Result<std::vector<std::string>> strings_at(dom::element el, const json_path& path,
                                                std::size_t max_items) const {
        dom::array arr;
        if (el.get_array().get(arr)) return fail(path, "must be an array of strings");
        if (arr.size() > max_items)
            return fail(path, fmt::format("more than {} entries", max_items));
        std::vector<std::string> out;
        std::size_t i = 0;
        for (dom::element item : arr) {
            auto s = string_at(item, child(path, i++));
            if (!s) return s.status();
            out.push_back(std::move(*s));
        }
        return out;
    }

    // "literal" | {"env": "VAR"} | {"file": "path"}: the inventory's secret forms. Error
    // texts name the variable or file, never the value.
    Result<std::string> secret_at(dom::element el, const json_path& path) const {
        if (el.is_string()) return string_at(el, path, k_max_url_bytes);
        auto obj = object_at(el, path, {"env", "file"});
        if (!obj) return fail(path, "must be a string, {\"env\": \"VAR\"} or {\"file\": \"path\"}");
        if (obj->size() != 1) return fail(path, "must have exactly one of 'env' or 'file'");
        auto [key, value] = *obj->begin();
        auto ref = string_at(value, child(path, key));
        if (!ref) return ref.status();
        if (!options_.resolve_secrets) return std::string("unresolved");
        if (key == "env") {
            const char* v = std::getenv(ref->c_str());
            if (!v) return fail(path, fmt::format("environment variable {} is not set", *ref));
            if (!*v) return fail(path, fmt::format("environment variable {} is empty", *ref));
            return std::string(v);
        }
        std::string file = *ref;
        if (file.front() != '/' && !options_.secrets_dir.empty())
            file = options_.secrets_dir + "/" + file;
        std::ifstream in(file, std::ios::binary);
        if (!in) return fail(path, fmt::format("cannot read secret file {}", file));
        std::string s;
        s.resize(k_max_url_bytes + 2);
        in.read(s.data(), std::streamsize(s.size()));
        s.resize(std::size_t(in.gcount()));
        if (s.size() > k_max_url_bytes + 1)
            return fail(
                path, fmt::format("secret file {} is larger than {} bytes", file, k_max_url_bytes));
        // Files written with `echo` end in a newline that is not part of the secret.
        if (!s.empty() && s.back() == '\n') s.pop_back();
        if (!s.empty() && s.back() == '\r') s.pop_back();
        if (s.empty()) return fail(path, fmt::format("secret file {} is empty", file));
        return s;
    }

    Status parse_targets(dom::element el, const json_path& path, NotifyConfig& config) {
        dom::array arr;
        if (el.get_array().get(arr)) return fail(path, "must be an array");
        if (arr.size() > k_max_targets)
            return fail(path, fmt::format("more than {} targets", k_max_targets));
        std::size_t i = 0;
        for (dom::element item : arr) {
            const json_path at = child(path, i++);
            auto target = parse_target(item, at);
            if (!target) return target.status();
            for (const Target& t : config.targets)
                if (t.name == target->name)
                    return fail(child(at, "name"), fmt::format("'{}' is given twice", t.name));
            config.targets.push_back(std::move(*target));
        }
        return Status::ok();
    }

    Result<TargetType> type_at(dom::element el, const json_path& path) const {
        auto s = string_at(el, path);
        if (!s) return s.status();
        for (TargetType t : {TargetType::webhook, TargetType::slack, TargetType::teams,
                             TargetType::mattermost, TargetType::email, TargetType::exec})
            if (*s == target_type_name(t)) return t;
        return fail(path, fmt::format("'{}' is not a target type (webhook, slack, teams, "
                                      "mattermost, email, exec)",
                                      json_escape(*s)));
    }

    Result<Target> parse_target(dom::element el, const json_path& path) {
        auto obj = object_at(
            el, path,
            {"name", "type", "url", "headers", "hmac_key", "ca_file", "tls", "from", "to", "user",
             "password", "program", "args", "max_output", "timeout", "max_diff_bytes"});
        if (!obj) return obj.status();
        Target t;
        dom::element v;
        if (obj->at_key("name").get(v)) return fail(path, "'name' is required");
        auto name = string_at(v, child(path, "name"), 64);
        if (!name) return name.status();
        if (!valid_name(*name))
            return fail(child(path, "name"),
                        "may only use A-Z a-z 0-9 . _ - (at most 64, not starting with '.')");
        t.name = std::move(*name);
        if (obj->at_key("type").get(v)) return fail(path, "'type' is required");
        auto type = type_at(v, child(path, "type"));
        if (!type) return type.status();
        t.type = *type;
        if (Status s = common_fields(*obj, path, t); !s) return s;
        if (Status s = allowed_for_type(*obj, path, t.type); !s) return s;
        Status s = t.type == TargetType::email  ? email_fields(*obj, path, t)
                   : t.type == TargetType::exec ? exec_fields(*obj, path, t)
                                                : http_fields(*obj, path, t);
        if (!s) return s;
        return t;
    }

    // Each type's own fields; another type's field is an error (a typo must not be ignored).
    Status allowed_for_type(const dom::object& obj, const json_path& path, TargetType type) const {
        static constexpr std::string_view common[] = {"name", "type", "timeout", "max_diff_bytes",
                                                      "ca_file"};
        static const std::vector<std::string_view> webhook{"url", "headers", "hmac_key"};
        static const std::vector<std::string_view> email{"url", "tls",  "from",
                                                         "to",  "user", "password"};
        static const std::vector<std::string_view> exec{"program", "args", "max_output"};
        static const std::vector<std::string_view> chat{"url"};
        const std::vector<std::string_view>& own = type == TargetType::webhook ? webhook
                                                   : type == TargetType::email ? email
                                                   : type == TargetType::exec  ? exec
                                                                               : chat;
        for (auto [key, value] : obj) {
            (void)value;
            if (std::find(std::begin(common), std::end(common), key) != std::end(common)) continue;
            if (std::find(own.begin(), own.end(), key) != own.end()) continue;
            return fail(child(path, key),
                        fmt::format("is not a field of a {} target", target_type_name(type)));
        }
        return Status::ok();
    }

    Status common_fields(const dom::object& obj, const json_path& path, Target& t) const {
        dom::element v;
        if (!obj.at_key("timeout").get(v)) {
            auto n = integer_at(v, child(path, "timeout"), 1, 300);
            if (!n) return n.status();
            t.timeout = std::chrono::seconds(*n);
        }
        if (!obj.at_key("max_diff_bytes").get(v)) {
            auto n = integer_at(v, child(path, "max_diff_bytes"), 0,
                                std::int64_t(k_max_diff_bytes_limit));
            if (!n) return n.status();
            t.max_diff_bytes = std::uint64_t(*n);
        }
        if (!obj.at_key("ca_file").get(v)) {
            auto s = string_at(v, child(path, "ca_file"));
            if (!s) return s.status();
            t.ca_file = std::move(*s);
        }
        return Status::ok();
    }

    Status url_field(const dom::object& obj, const json_path& path, Target& t,
                     std::initializer_list<std::string_view> schemes) const {
        dom::element v;
        if (obj.at_key("url").get(v)) return fail(path, "'url' is required");
        auto url = secret_at(v, child(path, "url"));
        if (!url) return url.status();
        if (!options_.resolve_secrets && !v.is_string()) return Status::ok();
        const bool ok = std::any_of(schemes.begin(), schemes.end(), [&](std::string_view s) {
            return url->starts_with(s) && url->size() > s.size();
        });
        // The message names the schemes, not the URL: it may embed a token.
        if (!ok || !header_safe(*url))
            return fail(child(path, "url"),
                        fmt::format("must start with {}", fmt::join(schemes, " or ")));
        t.url = std::move(*url);
        return Status::ok();
    }

    Status http_fields(const dom::object& obj, const json_path& path, Target& t) const {
        if (Status s = url_field(obj, path, t, {"https://", "http://"}); !s) return s;
        dom::element v;
        if (!obj.at_key("hmac_key").get(v)) {
            auto key = secret_at(v, child(path, "hmac_key"));
            if (!key) return key.status();
            t.hmac_key = std::move(*key);
        }
        if (obj.at_key("headers").get(v)) return Status::ok();
        const json_path hp = child(path, "headers");
        dom::object headers;
        if (v.get_object().get(headers)) return fail(hp, "must be an object");
        if (headers.size() > k_max_headers)
            return fail(hp, fmt::format("more than {} headers", k_max_headers));
        for (auto [key, value] : headers) {
            const json_path at = child(hp, key);
            const bool token = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
                return std::isalnum((unsigned char)c) || c == '-' || c == '_';
            });
            if (!token) return fail(at, "is not a header name");
            auto secret = secret_at(value, at);
            if (!secret) return secret.status();
            if (!header_safe(*secret)) return fail(at, "must not hold control characters");
            t.headers.emplace_back(std::string(key), std::move(*secret));
        }
        return Status::ok();
    }

    Status email_fields(const dom::object& obj, const json_path& path, Target& t) const {
        if (Status s = url_field(obj, path, t, {"smtp://", "smtps://"}); !s) return s;
        dom::element v;
        if (!obj.at_key("tls").get(v)) {
            auto s = string_at(v, child(path, "tls"));
            if (!s) return s.status();
            if (*s == "starttls")
                t.tls = SmtpTls::starttls_required;
            else if (*s == "starttls_if_offered")
                t.tls = SmtpTls::starttls_if_offered;
            else if (*s == "none")
                t.tls = SmtpTls::none;
            else
                return fail(child(path, "tls"), "must be starttls, starttls_if_offered or none");
        }
        if (obj.at_key("from").get(v)) return fail(path, "'from' is required");
        auto from = string_at(v, child(path, "from"), 256);
        if (!from) return from.status();
        if (!header_safe(*from) || from->find('@') == std::string::npos)
            return fail(child(path, "from"), "must be a mail address");
        t.from = std::move(*from);
        if (obj.at_key("to").get(v)) return fail(path, "'to' is required");
        auto to = strings_at(v, child(path, "to"), k_max_recipients);
        if (!to) return to.status();
        if (to->empty()) return fail(child(path, "to"), "must name at least one address");
        for (std::size_t i = 0; i < to->size(); ++i)
            if (!header_safe((*to)[i]) || (*to)[i].find('@') == std::string::npos ||
                (*to)[i].find(',') != std::string::npos)
                return fail(child(child(path, "to"), i), "must be a mail address");
        t.to = std::move(*to);
        if (!obj.at_key("user").get(v)) {
            auto user = string_at(v, child(path, "user"), 256);
            if (!user) return user.status();
            t.user = std::move(*user);
        }
        if (!obj.at_key("password").get(v)) {
            if (t.user.empty()) return fail(child(path, "password"), "needs 'user'");
            auto password = secret_at(v, child(path, "password"));
            if (!password) return password.status();
            t.password = std::move(*password);
        }
        return Status::ok();
    }

    Status exec_fields(const dom::object& obj, const json_path& path, Target& t) const {
        dom::element v;
        if (obj.at_key("program").get(v)) return fail(path, "'program' is required");
        auto program = string_at(v, child(path, "program"), 4096);
        if (!program) return program.status();
        if (program->front() != '/')
            return fail(child(path, "program"), "must be an absolute path (no PATH search)");
        t.program = std::move(*program);
        if (!obj.at_key("args").get(v)) {
            auto args = strings_at(v, child(path, "args"), k_max_args);
            if (!args) return args.status();
            t.args = std::move(*args);
        }
        if (!obj.at_key("max_output").get(v)) {
            auto n = integer_at(v, child(path, "max_output"), 0, 1 << 20);
            if (!n) return n.status();
            t.max_output = std::uint64_t(*n);
        }
        return Status::ok();
    }

    Status parse_rules(dom::element el, const json_path& path, NotifyConfig& config) const {
        dom::array arr;
        if (el.get_array().get(arr)) return fail(path, "must be an array");
        if (arr.size() > k_max_rules)
            return fail(path, fmt::format("more than {} rules", k_max_rules));
        std::size_t i = 0;
        for (dom::element item : arr) {
            auto rule = parse_rule(item, child(path, i++), config);
            if (!rule) return rule.status();
            config.rules.push_back(std::move(*rule));
        }
        return Status::ok();
    }

    Result<EventKind> kind_at(std::string_view s, const json_path& path) const {
        for (EventKind k : {EventKind::config_changed, EventKind::backup_failed,
                            EventKind::recovered, EventKind::quarantined})
            if (s == event_kind_name(k)) return k;
        return fail(path, fmt::format("'{}' is not an event (config_changed, backup_failed, "
                                      "recovered, quarantined)",
                                      json_escape(s)));
    }

    Result<Rule> parse_rule(dom::element el, const json_path& path,
                            const NotifyConfig& config) const {
        auto obj = object_at(el, path,
                             {"events", "targets", "devices", "jobs", "tags", "groups", "after"});
        if (!obj) return obj.status();
        Rule rule;
        dom::element v;
        if (obj->at_key("events").get(v)) return fail(path, "'events' is required");
        auto events = strings_at(v, child(path, "events"), 4);
        if (!events) return events.status();
        if (events->empty()) return fail(child(path, "events"), "must name at least one event");
        for (std::size_t i = 0; i < events->size(); ++i) {
            auto kind = kind_at((*events)[i], child(child(path, "events"), i));
            if (!kind) return kind.status();
            rule.events.push_back(*kind);
        }
        if (obj->at_key("targets").get(v)) return fail(path, "'targets' is required");
        auto targets = strings_at(v, child(path, "targets"), k_max_targets);
        if (!targets) return targets.status();
        if (targets->empty()) return fail(child(path, "targets"), "must name at least one target");
        for (std::size_t i = 0; i < targets->size(); ++i) {
            auto it = std::find_if(config.targets.begin(), config.targets.end(),
                                   [&](const Target& t) { return t.name == (*targets)[i]; });
            if (it == config.targets.end())
                return fail(child(child(path, "targets"), i),
                            fmt::format("no target is named '{}'", json_escape((*targets)[i])));
            rule.targets.push_back(std::size_t(it - config.targets.begin()));
        }
        const std::pair<std::string_view, std::vector<std::string> Rule::*> lists[] = {
            {"devices", &Rule::devices},
            {"jobs", &Rule::jobs},
            {"tags", &Rule::tags},
            {"groups", &Rule::groups}};
        for (const auto& [key, member] : lists) {
            if (obj->at_key(key).get(v)) continue;
            auto list = strings_at(v, child(path, key), k_max_filter_entries);
            if (!list) return list.status();
            std::sort(list->begin(), list->end());
            rule.*member = std::move(*list);
        }
        if (!obj->at_key("after").get(v)) {
            auto n = integer_at(v, child(path, "after"), 1, 1000);
            if (!n) return n.status();
            rule.after = std::uint32_t(*n);
        }
        return rule;
    }

    const NotifyLoadOptions& options_;
    dom::parser parser_;
    const json_path root_{};
};

}  // namespace

std::string_view target_type_name(TargetType type) {
    switch (type) {
        case TargetType::webhook:
            return "webhook";
        case TargetType::slack:
            return "slack";
        case TargetType::teams:
            return "teams";
        case TargetType::mattermost:
            return "mattermost";
        case TargetType::email:
            return "email";
        case TargetType::exec:
            return "exec";
    }
    return "?";
}

std::string_view event_kind_name(EventKind kind) {
    switch (kind) {
        case EventKind::config_changed:
            return "config_changed";
        case EventKind::backup_failed:
            return "backup_failed";
        case EventKind::recovered:
            return "recovered";
        case EventKind::quarantined:
            return "quarantined";
    }
    return "?";
}

bool NotifyConfig::needs_device_info() const {
    return std::any_of(rules.begin(), rules.end(),
                       [](const Rule& r) { return !r.tags.empty() || !r.groups.empty(); });
}

Result<NotifyConfig> parse_notify_config(std::string_view text, const NotifyLoadOptions& options) {
    parser p(options);
    return p.parse(text);
}

Result<std::shared_ptr<const NotifyConfig>> load_notify_config(const std::string& dir) {
    const std::string path = dir + "/" + std::string(k_config_file);
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return std::shared_ptr<const NotifyConfig>();
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::invalid_argument(fmt::format("{}: cannot be read", k_config_file));
    std::string text;
    text.resize(k_max_file_bytes + 1);
    in.read(text.data(), std::streamsize(text.size()));
    text.resize(std::size_t(in.gcount()));
    auto config = parse_notify_config(text, {.resolve_secrets = true, .secrets_dir = dir});
    if (!config) return config.status();
    return std::shared_ptr<const NotifyConfig>(std::make_shared<NotifyConfig>(std::move(*config)));
}

}  // namespace netkeep::notify
