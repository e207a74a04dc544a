"""What users look at: ``streamscore top``, the live terminal view of a running
deployment (:mod:`~streams.views.top`), and the HTML report of a run.

Both read the processors' ``/metrics`` endpoints through :mod:`~streams.views.scrape`
(and the broker through :mod:`streams.kafka`'s public functions). Views import the
layers below them (ops, monitoring, model, kafka, contract, config); of production
code, only the ``streamscore`` command imports views.
"""
