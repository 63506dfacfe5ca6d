//! `recsys rank`.

use recsys::artifact;
use recsys::contract::Model;
use recsys::tutorial::Scored;

use super::print_json;
use crate::args::RankArgs;

pub fn run(args: RankArgs) -> anyhow::Result<()> {
    let model = artifact::load_any(&args.model)?.model;
    // How the kind scores an unseen id (a feature model still has its hash bins).
    let how = model.out_of_vocabulary();
    if model.user_vocabulary().lookup(&args.user) == 0 {
        tracing::warn!(
            "user {:?} is not in the model's vocabulary: {how}",
            args.user
        );
    }
    for item in &args.items {
        if model.title_vocabulary().lookup(item) == 0 {
            tracing::warn!("title {item:?} is not in the model's vocabulary: {how}");
        }
    }
    let ranked = if args.all {
        model.rank_all(&args.user, args.top)?
    } else {
        model.rank(&args.user, &args.items)?
    };
    let ranked: Vec<Scored> = ranked
        .into_iter()
        .map(|(movie_title, score)| Scored { movie_title, score })
        .collect();
    if args.output.json {
        return print_json(&ranked);
    }
    for s in &ranked {
        println!("{}: {:.7}", s.movie_title, s.score);
    }
    Ok(())
}
