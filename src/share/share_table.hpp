#pragma once
// Internal: a worker rank's shared values (executor.share), opened and closed by the root's
// share_open and share_close messages in the order tasks arrive, and found by number when a task
// that names one is decoded (find_shared). One table serves one pool at a time in a process.

#include <mpi.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <rankpool/detail/shared_block.hpp>

#include "share/node_layout.hpp"
#include "share/page_toucher.hpp"

namespace rankpool::detail {

class share_table {
 public:
  /// `layout`: this rank's node (owned). The table is the process's for find_shared until it is
  /// destroyed.
  share_table(MPI_Comm pool, int root, node_layout layout);
  ~share_table();
  share_table(const share_table&) = delete;
  share_table& operator=(const share_table&) = delete;

  /// Value `id` arrives: `body` is its share_record. Joins the node's window (and fills it when
  /// this rank leads a node without the root) or receives this rank's encoded copy.
  void open(std::uint64_t id, const char* body, std::size_t n);
  /// No task holds value `id` any more: leaves its window or drops the copy.
  void close(std::uint64_t id);
  /// Values held now.
  std::size_t size();
  /// The value `id`, or null.
  std::shared_ptr<shared_block> find(std::uint64_t id);

 private:
  struct entry {
    std::shared_ptr<shared_block> block;
    node_window window;
    std::unique_ptr<page_toucher> toucher;  // maps the window's pages while this rank is idle
  };
  MPI_Comm pool_;
  int root_;
  node_layout layout_;
  bool map_all_ = true;  // a toucher maps the whole window, not only this worker's stretch
  std::mutex m_;         // entries_ (task threads of a team decode while the serve loop opens)
  std::map<std::uint64_t, entry> entries_;
};

}  // namespace rankpool::detail
