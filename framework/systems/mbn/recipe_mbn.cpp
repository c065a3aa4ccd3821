// The "mbn" recipe: MBN's and R-MBN's training step (Deng et al., Sec. 4 and supplementary B).
//   Each batch is one task's (data.multitask's cycles: 1 haze, 1 rain, 1 JPEG, 3 blur per
//   cycle); the model is routed to that task (models/task_routed.h) and one Adam update takes the
//   phase-"generator" terms: 1.1 (1 - SSIM) + 0.75 L1 on every output scale (systems/mbn/mbn.schema).
//   R-MBN (model.mode = "recurrent"): the batch runs through the whole chain; the output
//   "intermediate" is the stage of the batch's own task, so the fine-tuning terms weigh it 0.8
//   and the final output 0.2 (experiments/mbn/rmbn.toml); mbn.freeze_input_branches keeps the
//   input branches fixed, as the paper's fine-tuning does; mbn.init_from starts from another
//   run's checkpoint (R-MBN from MBN's).
// Every update also logs its total as "loss_<task>", a per-task training curve.
// Data-parallel like every recipe: all ranks train the same task at the same step (the task
// cycle's order is drawn from the run seed alone), so the branches without gradients agree.
#include <fmt/format.h>

#include "core/error.h"
#include "systems/mbn/mbn.h"
#include "train/checkpoint.h"
#include "train/recipe.h"

namespace dmgn::train {
namespace {

class MbnRecipe : public Recipe {
 public:
  explicit MbnRecipe(const RecipeEnv& env) : Recipe(env) {
    const Config& c = cfg();
    model_ = models::build_model(c);
    mbn_ = dynamic_cast<models::Mbn*>(model_.get());
    if (!mbn_)
      throw ConfigError(fmt::format("the mbn recipe trains model 'mbn', not '{}'", c.get_string("model.name")));
    terms_ = std::make_unique<losses::TermSet>(c, *model_);
    // Fine-tuning (R-MBN from MBN, R-MBN* from R-MBN): the weights of another run's checkpoint,
    // read on every rank before the modules are broadcast. A resume then loads its own.
    const std::string init = c.get_string("mbn.init_from");
    if (!init.empty()) load_checkpoint(init, CheckpointParts::weights(model_.get()));
    add_module("model", model_);
    if (c.get_bool("mbn.freeze_input_branches"))
      for (auto* m : mbn_->input_branches())
        for (auto& p : m->parameters()) p.set_requires_grad(false);
    const auto betas = c.get_floats("optim.betas");
    if (betas.size() != 2) throw ConfigError("config key 'optim.betas' needs two values");
    std::vector<torch::Tensor> trainable;
    for (auto& p : model_->parameters())
      if (p.requires_grad()) trainable.push_back(p);
    add_adam("opt", trainable, c.get_float("optim.lr"), {betas[0], betas[1]});
  }

  models::Model& model() override { return *model_; }

 protected:
  void run(Frame& f) override {
    const auto& batch = f.batch();
    const std::string task = f.task();
    if (task.empty()) throw DataError("the mbn recipe needs each batch's task (train on data.multitask or a synthesis)");
    mbn_->route(task);
    auto out = f.forward([&] { return model_->forward(batch.at("input")); });
    if (mbn_->recurrent() && out.has("stage_" + task)) out.set("intermediate", out.at("stage_" + task));
    f.note_outputs(out);
    const auto tv = f.forward([&] { return terms_->evaluate("generator", out, batch, {}); });
    f.update("opt", tv, "loss");
    f.report_loss_as("loss_" + (task.empty() ? std::string("unknown") : task));
  }

 private:
  models::ModelPtr model_;
  models::Mbn* mbn_ = nullptr;
  std::unique_ptr<losses::TermSet> terms_;
};

}  // namespace

void register_mbn_recipe() {
  recipes().add("mbn",
                "MBN / R-MBN's step: each batch routed through its task's branches (or R-MBN's chain), "
                "1.1 (1 - SSIM) + 0.75 L1 on every scale, one Adam update (Deng et al.)",
                [](const RecipeEnv& env) -> RecipePtr { return std::make_unique<MbnRecipe>(env); });
}

}  // namespace dmgn::train
