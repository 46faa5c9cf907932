"""The scenario generators: what the demo, the chaos run, the benchmarks and the tests put into the simulators,
and the ground truth they check the results against.

* ``transactions``: GP API transaction notifications as the gateway sends them.
* ``gateway``: a seeded day of card sales, refunds, batches and deposits in the GP simulator.
* ``pos``: the lines and tenders a Retail ticket is rung up with, and a seeded business day of tickets.
* ``day``: a business day across the Retail and GP simulators, with the discrepancies it plants.
* ``orders``: sales orders in an ERP simulator and the card payments that pay them.
* ``contoso``: the Contoso-like master data of the F&O simulator.

The generators drive a simulator through its Python API and import no simulator package when they run
(only the shared id format, ``sandbox.simulators.ids``), so a simulator can hand its own seeding to them.
"""
