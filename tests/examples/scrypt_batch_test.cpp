// scrypt_batch -o FILE when a hash fails after some succeeded: the digests before the failing line
// are kept in FILE.partial, named in the message, and FILE itself is not written. Driven in one
// process on a thread_executor, with a task that fails on a chosen password: every real failure
// (the parameters) hits the first line already, so the MPI tests cannot reach this case.

#define SCRYPT_BATCH_NO_MAIN
#include "scrypt_batch.cpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace fs = std::filesystem;

namespace {

std::string failing_on_bad(const scrypt_batch::job& j) {
  if (j.password == "bad") throw std::runtime_error("injected failure");
  return scrypt_batch::hash_one(j);
}

std::string contents(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class ScryptBatchOutput : public testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("scrypt_batch_test." + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }

  /// Runs scrypt_batch on `input` (one password a line) with `extra` arguments; returns the status.
  int run(const std::string& input, std::vector<std::string> extra) {
    rankpool::thread_executor pool(2);
    std::istringstream in(input);
    out.str("");
    err.str("");
    std::vector<std::string> args{"-n", "16", "-r", "1", "-p", "1", "--no-progress"};
    args.insert(args.end(), extra.begin(), extra.end());
    return scrypt_batch::run(pool, args, in, out, err, failing_on_bad);
  }

  std::vector<std::string> names() const {
    std::vector<std::string> n;
    for (const auto& e : fs::directory_iterator(dir)) n.push_back(e.path().filename().string());
    std::sort(n.begin(), n.end());
    return n;
  }

  fs::path dir;
  std::ostringstream out, err;
};

TEST_F(ScryptBatchOutput, AFailedHashKeepsTheDigestsBeforeItInFilePartial) {
  ASSERT_EQ(run("one\ntwo\n", {}), 0);
  const std::string first_two = out.str();
  ASSERT_EQ(std::count(first_two.begin(), first_two.end(), '\n'), 2);

  const fs::path dest = dir / "digests.txt";
  EXPECT_EQ(run("one\ntwo\nbad\nfour\n", {"-o", dest.string()}), 1);
  EXPECT_EQ(out.str(), "");
  EXPECT_NE(err.str().find("scrypt_batch: input line 3: injected failure; the digests of lines 1 to 2 are in " +
                           dest.string() + ".partial (" + dest.string() + " was not written)"),
            std::string::npos)
      << err.str();
  EXPECT_EQ(contents(dest.string() + ".partial"), first_two);
  EXPECT_EQ(names(), std::vector<std::string>{"digests.txt.partial"}) << "no FILE, no temporary file";
}

TEST_F(ScryptBatchOutput, AFailureOnTheFirstLineLeavesNoFileAndAnExistingOneUntouched) {
  const fs::path dest = dir / "digests.txt";
  std::ofstream(dest) << "older digests\n";
  EXPECT_EQ(run("bad\ntwo\n", {"--output=" + dest.string()}), 1);
  EXPECT_NE(err.str().find("input line 1: injected failure; nothing was written to " + dest.string()),
            std::string::npos)
      << err.str();
  EXPECT_EQ(contents(dest), "older digests\n");
  EXPECT_EQ(names(), std::vector<std::string>{"digests.txt"});
}

TEST_F(ScryptBatchOutput, TheFileHoldsWhatStandardOutputGets) {
  ASSERT_EQ(run("a\n\nc", {}), 0);
  const std::string expected = out.str();
  const fs::path dest = dir / "digests.txt";
  ASSERT_EQ(run("a\n\nc", {"-o" + dest.string()}), 0) << err.str();
  EXPECT_EQ(out.str(), "");
  EXPECT_EQ(contents(dest), expected);
  EXPECT_EQ(names(), std::vector<std::string>{"digests.txt"});
}

}  // namespace
