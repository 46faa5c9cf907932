"""Payment anomalies: card testing, duplicate charges, refund abuse, void spikes, outliers and impossible
travel, each flagged with the evidence a fraud analyst reads."""
