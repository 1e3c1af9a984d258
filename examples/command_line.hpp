#pragma once
/// \file command_line.hpp
/// The command lines of svd_batch, scrypt_batch and rankpool-bench, read by CLI11 under each
/// program's own rules and messages.
///
/// CLI11 finds the options, splits "--name=value" and "-nvalue", takes an option's value from
/// the next word and ends the options at "--". It accepts more than these programs ever did,
/// though: svd_batch refuses "-ofile" and says "option --check takes no value" for
/// "--check=yes", none reads "-hx" as "-h -x", rankpool-bench takes no "--runs=5", and all read
/// "--salt=" as an empty value where CLI11 takes the next word. So each option's handler runs as
/// soon as CLI11 has read the option, after a check of how it was written against the program's
/// rules; the words that are no option (an input file, a benchmark, an unknown option) reach
/// their handlers in their place among the options. The first mistake on the command line is
/// the one reported, in the program's words, as it always was.

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace command_line {

/// How a program's options take their values: each program keeps the spellings it always
/// accepted, and refuses the others as unknown options.
struct rules {
  bool long_joined = true;               ///< "--count=5" as well as "--count 5"
  bool short_joined = false;             ///< "-n5" and "-n=5" as well as "-n 5"
  bool double_dash_ends_options = true;  ///< after "--" every word is an operand; else "--" is unknown
};

/// The options of one program. Every refusal is an `Error` carrying the program's message;
/// handlers may throw whatever else they like.
template <class Error>
class parser {
 public:
  /// `args`: the command line without the program's name.
  explicit parser(std::vector<std::string> args, rules r = {})
      : rules_(r), words_(std::move(args)), left_(words_.rbegin(), words_.rend()) {
    app_.set_help_flag();  // each program prints its own help text
    app_.allow_extras();   // words that are no option go to the handlers below, in order, not to an error
  }
  parser(const parser&) = delete;
  parser& operator=(const parser&) = delete;

  /// An option without a value, e.g. "-h,--help". Never joined to a value or another flag: "-hx"
  /// is an unknown option, "--check=yes" too unless flag_with_value() says otherwise.
  void flag(const std::string& names, std::function<void()> h) {
    // Through `each`, which sees every use: CLI11's callbacks for a flag convert its text first
    // (add_flag_callback skips "--check=no" and fails on "--check=x").
    app_.add_flag(names)->trigger_on_parse()->each([this, h = std::move(h)](const std::string&) {
      take_set_aside();
      const written w = split(words_[taken() - 1]);
      if (w.attached) {
        if (w.name.starts_with("--") && flag_value_) throw Error(flag_value_(w.name));
        throw Error(unknown_(w.word));  // CLI11 would go on with "-x" from "-hx"
      }
      h();
    });
  }

  /// An option that takes a value, e.g. "-o,--output". `h` gets the option's name as written
  /// ("-o" or "--output"), for its messages, and the value.
  void option(const std::string& names, std::function<void(const std::string& name, const std::string& value)> h) {
    CLI::Option* o = app_.add_option(names, [this, h](const CLI::results_t& r) {
      read_value(r.front(), h);
      return true;
    });
    o->trigger_on_parse();
    values_.emplace(o, std::move(h));
  }

  /// The words that are neither options nor options' values, such as an input file or a
  /// benchmark's name; after "--", every word.
  void operands(std::function<void(const std::string&)> h) { operand_ = std::move(h); }

  /// The message for a word that looks like an option and is none: "-x", "--bogus=1", "-5".
  void unknown(std::function<std::string(const std::string& word)> message) { unknown_ = std::move(message); }

  /// The message for a long flag given a value ("--check=yes", with the name "--check").
  void flag_with_value(std::function<std::string(const std::string& name)> message) {
    flag_value_ = std::move(message);
  }

  /// Reads the command line, calling the handlers in the order of the words.
  void parse() {
    try {
      app_.parse(left_);
    } catch (const CLI::ArgumentMismatch&) {
      // CLI11 ran out of words for an option's value: the option is the last word.
      if (!left_.empty()) throw;
      take_set_aside();
      const written w = split(words_.back());
      if (!w.attached) throw Error("option " + w.name + " needs a value");
      deliver(w, "", values_.at(app_.get_option_no_throw(w.name)));  // "--salt=" at the end
    }
    take_set_aside();
  }

 private:
  using value_handler = std::function<void(const std::string&, const std::string&)>;

  // An option as written: "-ofile" is the name "-o" with "file" attached, "--count=" the name
  // "--count" with "" attached.
  struct written {
    std::string word;
    std::string name;
    std::optional<std::string> attached;
  };

  static written split(const std::string& word) {
    if (!word.starts_with("--"))
      return {word, word.substr(0, 2), word.size() > 2 ? std::optional(word.substr(2)) : std::nullopt};
    const std::size_t eq = word.find('=');
    return {word, word.substr(0, eq), eq != std::string::npos ? std::optional(word.substr(eq + 1)) : std::nullopt};
  }

  // How many words CLI11 has read: it takes them off the back of left_, and calls a handler
  // (trigger_on_parse) right after the words of its option. That is how CLI11 2.1 (Debian 12)
  // reads; the bad-option tests of svd_batch and scrypt_batch fail on a CLI11 that does not.
  std::size_t taken() const { return words_.size() - left_.size(); }

  void read_value(const std::string& value, const value_handler& h) {
    take_set_aside();
    const std::string& last = words_[taken() - 1];
    if (last != value) return deliver(split(last), value, h);  // "--count=5", "-ofile"
    const written w = split(words_[taken() - 2]);
    // "--salt=" and a word: CLI11 reads the empty value as none and takes the word as the
    // value; the programs never did, so the word goes back to be read on its own.
    if (w.attached) left_.push_back(last);
    deliver(w, value, h);
  }

  void deliver(const written& w, const std::string& value, const value_handler& h) {
    if (!w.attached) return h(w.name, value);
    const bool is_long = w.name.starts_with("--");
    if (!(is_long ? rules_.long_joined : rules_.short_joined)) throw Error(unknown_(w.word));
    const std::string& joined = *w.attached;
    h(w.name, !is_long && joined.starts_with('=') ? joined.substr(1) : joined);
  }

  // Hands the words CLI11 has set aside since the last call (app_.remaining(): unknown options,
  // operands, the "--" that ends the options) to their handlers, before the option that follows
  // them is handled. CLI11 sets "--" aside only as the end of the options, so the first "--"
  // there is that one.
  void take_set_aside() {
    const std::vector<std::string> set_aside = app_.remaining();
    for (; set_aside_taken_ < set_aside.size(); ++set_aside_taken_) {
      const std::string& word = set_aside[set_aside_taken_];
      if (options_ended_)
        operand_(word);
      else if (word == "--" && rules_.double_dash_ends_options)
        options_ended_ = true;
      else if (word.size() > 1 && word[0] == '-')
        throw Error(unknown_(word));
      else
        operand_(word);  // "-" too (standard input to scrypt_batch)
    }
  }

  rules rules_;
  CLI::App app_;
  std::vector<std::string> words_;  // in order
  std::vector<std::string> left_;   // the words CLI11 has yet to read, last first
  std::map<const CLI::Option*, value_handler> values_;
  std::function<void(const std::string&)> operand_ = [](const std::string&) {};
  std::function<std::string(const std::string&)> unknown_ = [](const std::string& word) {
    return "unknown option '" + word + "'";
  };
  std::function<std::string(const std::string&)> flag_value_;
  std::size_t set_aside_taken_ = 0;  // of app_.remaining()
  bool options_ended_ = false;
};

/// A decimal number of digits only (no sign, no blank), below 2^64: its value, or why it is none.
/// svd_batch's and scrypt_batch's numbers, each program with its own messages.
struct decimal {
  enum class status { ok, not_digits, too_large };
  std::uint64_t value = 0;
  status error = status::ok;
};

inline decimal read_decimal(std::string_view text) {
  decimal d;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d.value);
  if (ec == std::errc::result_out_of_range)
    d.error = decimal::status::too_large;
  else if (ec != std::errc() || end != text.data() + text.size())
    d.error = decimal::status::not_digits;
  return d;
}

}  // namespace command_line
