#pragma once
// StudyStore: blind human-evaluation studies (`dmgn study`, DMGN Table IV) in the run store's
// file (schema version 5). A study names a dataset, its samples (in presentation order), its
// methods (a run's checkpoint, a folder of another method's outputs, or the input) and the image
// rendered for each (sample, method), kept under the study's folder with an opaque file name.
// Subjects join by name; each has one vote per sample, written when cast: a second vote for the
// same sample replaces the first and counts a revision. Like RunStore: one instance per thread,
// several processes may share the file (WAL, busy retries); StoreError names the file.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dmgn::store {

namespace sqlite {
class Db;
}

struct StudyMethod {
  int64_t position = 0;  // order given at creation (0-based)
  std::string name;      // shown in reports, never to subjects
  std::string kind;      // run | folder | input
  std::string source;    // the run id, the folder, or "" for the input
  int64_t run_id = 0;    // kind run: the run, its checkpoint and that checkpoint's step
  std::string checkpoint;
  int64_t step = 0;
};

struct StudySample {
  int64_t position = 0;       // presentation order (0-based)
  std::string sample;         // the dataset's sample id
  int64_t dataset_index = 0;  // its index in the dataset
  std::string input_file;     // the input image shown beside the outputs (file name in the study folder)
};

struct StudyImage {
  int64_t sample = 0, method = 0;  // positions
  std::string file;                // file name in the study folder (opaque)
  double psnr = 0, ssim = 0;       // against the ground truth; NaN when the dataset has none
};

struct StudyInfo {
  int64_t id = 0, seed = 0;
  std::string name, dataset, dir, token, provenance, git_revision, created_at;
};

struct Study : StudyInfo {
  std::vector<StudyMethod> methods;
  std::vector<StudySample> samples;
  std::vector<StudyImage> images;  // one per (sample, method)
  // The image of (sample, method); StoreError when the study has none (a corrupt store).
  const StudyImage& image(int64_t sample, int64_t method) const;
};

struct StudySubject {
  int64_t id = 0;
  std::string name, key, started_at, finished_at;  // finished_at "" while voting
  bool finished() const { return !finished_at.empty(); }
};

struct StudyVote {
  int64_t subject_id = 0;
  std::string subject;      // the subject's name
  int64_t sample = 0, method = 0;
  std::string shown_order;  // method positions as shown left to right (A, B, ...): "2,0,3,1"
  std::string cast_at;      // ISO-8601 UTC with milliseconds
  int64_t revisions = 0;    // times this subject changed this vote
};

class StudyStore {
 public:
  enum class Access { read_write, read_only };
  // read_write creates and migrates the file as RunStore does.
  explicit StudyStore(const std::filesystem::path& file, Access access = Access::read_write);
  StudyStore(StudyStore&&) noexcept;
  StudyStore& operator=(StudyStore&&) noexcept;
  ~StudyStore();

  // The study, its methods, samples and images in one transaction; returns its id.
  // ConfigError when a study of that name exists.
  int64_t create(const Study& study);
  std::optional<Study> find(const std::string& name) const;
  // ConfigError naming the known studies when there is none of that name.
  Study get(const std::string& name) const;
  std::vector<StudyInfo> list() const;  // ordered by id

  // The subject of that name, created with `new_key` if new (a returning subject keeps its key).
  StudySubject join(int64_t study_id, const std::string& name, const std::string& new_key);
  std::optional<StudySubject> subject_by_key(int64_t study_id, const std::string& key) const;
  std::vector<StudySubject> subjects(int64_t study_id) const;  // ordered by id
  void finish(int64_t subject_id);  // sets finished_at now (once)

  // Writes (or replaces) the subject's vote for `sample`; returns the stored row.
  StudyVote cast(int64_t study_id, int64_t subject_id, int64_t sample, int64_t method, const std::string& shown_order);
  std::vector<StudyVote> votes(int64_t study_id) const;         // by subject id, then sample
  std::vector<StudyVote> votes_of(int64_t subject_id) const;    // by sample

  const std::filesystem::path& path() const { return file_; }

 private:
  std::filesystem::path file_;
  std::unique_ptr<sqlite::Db> db_;
};

}  // namespace dmgn::store
