//! The two ways of training a biased MF, as `recsys train --preset mf-sgd` and `best` run
//! them: the kind's side of the fitting contract ([`Recipe`]).

use std::borrow::Cow;
use std::time::Instant;

use super::bpmf::{BpmfConfig, ValidBpmfConfig, fit_bpmf};
use super::sgd::{MfSgdConfig, ValidMfSgdConfig, fit_sgd};
use super::{BiasedMf, evaluate};
use crate::contract::{DataRows, FitSeconds, Fitted, Overrides, Recipe, TrainData, take};
use crate::train::{
    EpochReport, Examples, Recording, TrainObserver, hold_out, narrate_validation, split_validation,
};
use crate::{Error, Result};

impl Recipe for MfSgdConfig {
    type Model = BiasedMf;
    type Valid = ValidMfSgdConfig;

    fn check(&self) -> Result<ValidMfSgdConfig> {
        self.clone().check()
    }

    fn seed(&self) -> u64 {
        self.schedule.seed
    }

    fn overlay(&mut self, flags: &mut Overrides) {
        take(&mut flags.factors, &mut self.factors);
        take(&mut flags.factor_l2, &mut self.factor_l2);
        take(&mut flags.bias_l2, &mut self.bias_l2);
        take(&mut flags.init_std, &mut self.init_std);
        self.schedule.overlay(flags);
    }

    fn fit(
        data: TrainData,
        valid: &ValidMfSgdConfig,
        observer: &mut dyn TrainObserver,
    ) -> Result<Fitted<BiasedMf>> {
        let (all, test) = in_memory(data.rows)?;
        let (train, validation) = hold_out(Cow::Owned(all), valid.schedule())?;
        let total = train.len() + validation.as_ref().map_or(0, Examples::len);
        narrate_validation(
            observer,
            validation.as_ref(),
            total,
            valid.get().schedule.seed,
        );
        let clock = Instant::now();
        let (model, history) = fit_sgd(
            data.users,
            data.titles,
            train.into_owned(),
            validation.as_ref(),
            valid,
            observer,
        )?;
        tested(model, history.epochs, &test, clock)
    }
}

impl Recipe for BpmfConfig {
    type Model = BiasedMf;
    type Valid = ValidBpmfConfig;

    fn check(&self) -> Result<ValidBpmfConfig> {
        self.clone().check()
    }

    fn seed(&self) -> u64 {
        self.seed
    }

    fn overlay(&mut self, flags: &mut Overrides) {
        take(&mut flags.factors, &mut self.factors);
        take(&mut flags.burn_in, &mut self.burn_in);
        take(&mut flags.samples, &mut self.samples);
        take(&mut flags.noise_precision, &mut self.noise_precision);
        take(&mut flags.seed, &mut self.seed);
        take(
            &mut flags.validation_fraction,
            &mut self.validation_fraction,
        );
    }

    fn fit(
        data: TrainData,
        valid: &ValidBpmfConfig,
        observer: &mut dyn TrainObserver,
    ) -> Result<Fitted<BiasedMf>> {
        let (all, test) = in_memory(data.rows)?;
        let cfg = valid.get();
        // Always drawn, even holding nothing out: the sampler sees the seeded order.
        let (train, validation) = split_validation(&all, cfg.validation_fraction, cfg.seed)?;
        let validation = (!validation.is_empty()).then_some(validation);
        narrate_validation(observer, validation.as_ref(), all.len(), cfg.seed);
        drop(all);
        let mut recording = Recording {
            inner: observer,
            epochs: Vec::new(),
        };
        let clock = Instant::now();
        let (users, titles) = (data.users, data.titles);
        let model = fit_bpmf(
            users,
            titles,
            &train,
            validation.as_ref(),
            valid,
            &mut recording,
        )?;
        tested(model, recording.epochs, &test, clock)
    }
}

/// The examples of a recipe that holds them in memory.
fn in_memory(rows: DataRows) -> Result<(Examples, Examples)> {
    match rows {
        DataRows::Memory { train, test } => Ok((train, test)),
        DataRows::Spooled { .. } => Err(Error::InvalidInput(
            "--stream trains the tutorial's ranking model; a biased MF holds its examples in \
             memory"
                .into(),
        )),
    }
}

/// The fit of `model` trained since `clock`, evaluated on `test` when there is one.
fn tested(
    model: BiasedMf,
    epochs: Vec<EpochReport>,
    test: &Examples,
    clock: Instant,
) -> Result<Fitted<BiasedMf>> {
    let fit = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let test = (!test.is_empty())
        .then(|| evaluate(&model, test))
        .transpose()?;
    Ok(Fitted {
        model,
        epochs,
        test,
        test_retrieval: None,
        seconds: FitSeconds {
            init: 0.0,
            fit,
            evaluate: clock.elapsed().as_secs_f64(),
        },
    })
}
