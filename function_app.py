"""The Functions entry point: creates the app and registers the blueprints; no I/O, no settings."""

import azure.functions as func

from functions.catalog import bp as catalog_bp
from functions.customers import bp as customers_bp
from functions.intake import bp as intake_bp
from functions.operations import bp as operations_bp
from functions.orders import bp as orders_bp
from functions.payments import bp as payments_bp
from functions.payroll import bp as payroll_bp
from functions.settlement import bp as settlement_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(intake_bp)
app.register_functions(payments_bp)
app.register_functions(operations_bp)
app.register_functions(settlement_bp)
app.register_functions(orders_bp)
app.register_functions(customers_bp)
app.register_functions(catalog_bp)
app.register_functions(payroll_bp)
