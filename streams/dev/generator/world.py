"""The synthetic world's parameters: merchants, channels, countries, distances, attacks.

Shares and mixes the generator draws from; the ground truth's signals. Changing them
changes the data every seeded run makes (and the shipped model's reproduction).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from streams.contract import events as c

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]
BLOCK = 1024  # events drawn per numpy block
MS_HOUR, MS_DAY = 3_600_000, 86_400_000
MERCHANT = {name: i for i, name in enumerate(c.MERCHANT_CATEGORIES)}
ECOM = c.CHANNELS.index("ecom")
REMOTE = [c.CHANNELS.index(name) for name in c.REMOTE_CHANNELS]
RISKY = np.isin(c.MERCHANT_CATEGORIES, c.RISKY_MERCHANT_CATEGORIES)
SIGNALS = (
    "event_time",
    "amount",
    "avg_amount_30d",
    "account_age_days",
    "txn_count_1h",
    "distance_from_home_km",
    "is_new_device",
    "is_foreign_ip",
    "card_present",
)
SKIMMED = np.isin(c.MERCHANT_CATEGORIES, ("fuel", "grocery"))
MERCHANT_AMOUNT = np.array([1.0, 0.9, 1.3, 3.0, 4.0, 0.6, 5.0, 0.8, 1.5, 0.7, 1.6, 3.0])
# channel (pos ecom atm moto) | merchant mixes: in person, remote, account takeover
CHANNEL_P = np.array([[0.58, 0.33, 0.06, 0.03], [0.15, 0.70, 0.05, 0.10]])
MERCHANT_P = np.array(
    [
        [0.30, 0.18, 0.12, 0.05, 0.03, 0.01, 0.02, 0.01, 0.01, 0.10, 0.15, 0.02],
        [0.08, 0.08, 0.00, 0.12, 0.15, 0.25, 0.02, 0.07, 0.04, 0.03, 0.14, 0.02],
        [0.02, 0.02, 0.02, 0.25, 0.08, 0.10, 0.12, 0.10, 0.09, 0.01, 0.05, 0.14],
    ]
)
# per country (DE FR GB NL ES IT PL SE CH US BR NG RU CN): share of homes, lat/lon, currency
HOME_P = np.array(
    [0.22, 0.15, 0.14, 0.06, 0.08, 0.08, 0.06, 0.03, 0.03, 0.08, 0.03, 0.01, 0.01, 0.02]
)
LATLON = np.radians(
    [
        [51.2, 10.4],
        [46.6, 2.2],
        [54.0, -2.0],
        [52.1, 5.3],
        [40.2, -3.7],
        [42.8, 12.6],
        [52.0, 19.1],
        [62.0, 15.0],
        [46.8, 8.2],
        [39.8, -98.6],
        [-10.8, -52.9],
        [9.1, 8.7],
        [61.5, 105.3],
        [35.9, 104.2],
    ]
)
CURRENCY = np.array(
    [
        c.CURRENCIES.index(x)
        for x in (
            "EUR",
            "EUR",
            "GBP",
            "EUR",
            "EUR",
            "EUR",
            "PLN",
            "SEK",
            "CHF",
            "USD",
            "USD",
            "USD",
            "USD",
            "USD",
        )
    ]
)
_LAT, _LON = LATLON[:, 0], LATLON[:, 1]
KM = (
    2
    * 6371.0
    * np.arcsin(
        np.sqrt(
            np.sin((_LAT[:, None] - _LAT) / 2) ** 2
            + np.cos(_LAT[:, None]) * np.cos(_LAT) * np.sin((_LON[:, None] - _LON) / 2) ** 2
        )
    )
)
ATTACK_RATE = 0.03
