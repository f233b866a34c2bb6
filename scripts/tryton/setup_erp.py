#!/usr/bin/env python3
"""Business data for Crossdock's Tryton 8.0 test ERP.

Run with the venv's python, after `trytond-admin` has activated the modules,
while no server uses the database (proteus drives trytond in-process):

    python setup_erp.py --database crossdock --config /path/trytond.conf

It creates, in one company "Crossdock Retail" (USD):

* the chart of accounts (English template) with default receivable/payable;
* fiscal years for the previous, current and next calendar year, each with
  strict move/invoice sequences and monthly periods, so a template built in
  December still invoices in January;
* payment term "Direct", customer taxes 8.25 %, 10 % and 0 %;
* product category "Goods" (revenue/expense accounts, default customer tax
  8.25 %: it is what `sale.line.on_change` proposes; `sale.line.create` never
  applies it, the caller sends `taxes` itself);
* products SKU-001 ... SKU-020 (goods, salable, list price 10 + i, cost 4);
* a confirmed inventory of 1000 units of each SKU in the storage location of
  warehouse WH;
* web shop "crossdock" (its `web_shop` + `web_id` pair on sales is unique);
* invoice payment method "Crossdock payout" (cash journal) for the pay wizard;
* customer party "Crossdock Test Customer" with one address;
* the accounts a settlement journal posts to that the English chart lacks
  (`SETTLEMENT_ACCOUNTS`: marketplace reserved balances, settlement
  suspense, settlement clearing between months, marketplace-facilitator tax
  clearing, marketplace fees), each
  typed like a sibling of the chart.

Prints one line of JSON with the record ids on stdout; progress goes to
stderr.  Refuses to run twice on the same database.
"""
import argparse
import datetime
import json
import sys
import time
from decimal import Decimal

from proteus import Model, Wizard
from proteus import config as proteus_config

SKU_COUNT = 20
STOCK_PER_SKU = 1000
SHOP_NAME = 'crossdock'
# fixture key -> (tax name, rate)
TAXES = {
    '8.25': ('Sales tax 8.25%', Decimal('0.0825')),
    '10': ('Sales tax 10%', Decimal('0.10')),
    '0': ('Sales tax 0%', Decimal('0')),
    }
DEFAULT_TAX = '8.25'
# Accounts a settlement journal needs beyond the English chart:
# code -> (name, parent code, code of the account whose type it takes).
# The connector's defaults (`erp/tryton/journals.rs`) name these codes.
SETTLEMENT_ACCOUNTS = {
    # Money the marketplace holds back: an asset until released.
    '1.1.5': ('Marketplace Reserved Balances', '1.1.0', '1.1.3'),
    # Open residuals of a settlement, until resolved.
    '1.4.4': ('Settlement Suspense', '1.4.0', '1.4.1'),
    # A month's balance carried to the deposit's month when a settlement
    # spans two months: each month's journal balances on its own.
    '1.4.5': ('Marketplace Settlement Clearing', '1.4.0', '1.4.1'),
    # Tax the marketplace collected and withheld: in and out, nets to 0.
    '2.2.5': ('Marketplace Facilitator Tax Clearing', '2.2.0', '2.2.3'),
    '5.2.4': ('Marketplace Fees', '5.2.0', '5.2.2'),
    }

_started = time.monotonic()


def step(message):
    print(f'[setup_erp +{time.monotonic() - _started:5.1f}s] {message}',
        file=sys.stderr, flush=True)


def only(records, what):
    "The single record of a search, with a readable error otherwise"
    if len(records) != 1:
        sys.exit(f'setup_erp: expected exactly one {what}, '
            f'found {len(records)}')
    return records[0]


def create_currency():
    Currency = Model.get('currency.currency')
    Rate = Model.get('currency.currency.rate')
    found = Currency.find([('code', '=', 'USD')])
    if found:
        return found[0]
    # A fresh database has no currency at all; one rate is needed for any
    # conversion code path even with a single currency.
    usd = Currency(name='U.S. Dollar', code='USD', symbol='$',
        rounding=Decimal('0.01'), digits=2)
    usd.save()
    Rate(currency=usd, date=datetime.date(2000, 1, 1),
        rate=Decimal('1')).save()
    return usd


def create_company(config, currency):
    Party = Model.get('party.party')
    User = Model.get('res.user')
    party = Party(name='Crossdock Retail')
    party.save()
    # The wizard (not a plain create) also gives every user without a
    # company, i.e. admin, this company as current and allowed company.
    wizard = Wizard('company.company.config')
    wizard.execute('company')
    wizard.form.party = party
    wizard.form.currency = currency
    wizard.execute('add')
    # Company-dependent defaults and record rules read the user's context.
    config._context = User.get_preferences(True, {})
    Company = Model.get('company.company')
    return only(Company.find(), 'company')


def find_accounts(company):
    Account = Model.get('account.account')

    def by_type(kind):
        return only(Account.find([
                    (f'type.{kind}', '=', True),
                    ('company', '=', company.id),
                    ('closed', '!=', True),
                    ], limit=1), f'{kind} account')

    def by_code(code):
        return only(Account.find([
                    ('code', '=', code),
                    ('company', '=', company.id),
                    ], limit=1), f'account {code}')

    return {
        'receivable': by_type('receivable'),
        'payable': by_type('payable'),
        'revenue': by_type('revenue'),
        'expense': by_type('expense'),
        # codes of account.account_template_root_en
        'cash': by_code('1.1.1'),
        'tax': by_code('6.3.6'),
        }


def create_chart(config, company):
    Template = Model.get('account.account.template')
    ModelData = Model.get('ir.model.data')
    root_id = ModelData.get_id('account.account_template_root_en',
        config.context)
    wizard = Wizard('account.create_chart')
    wizard.execute('account')
    wizard.form.account_template = Template(root_id)
    wizard.form.company = company
    wizard.execute('create_account')
    accounts = find_accounts(company)
    # Defaults used for every new party, so customers created over RPC can be
    # invoiced without account setup of their own.
    wizard.form.account_receivable = accounts['receivable']
    wizard.form.account_payable = accounts['payable']
    # Revenue/expense of lines without a product (the hub's shipping line).
    wizard.form.category_account_revenue = accounts['revenue']
    wizard.form.category_account_expense = accounts['expense']
    wizard.execute('create_properties')
    # Round taxes per line, as channels do (Tryton's default is per document).
    Configuration = Model.get('account.configuration')
    configuration = Configuration(1)
    configuration.tax_rounding = 'line'
    configuration.save()
    return accounts


def create_settlement_accounts(company):
    Account = Model.get('account.account')

    def by_code(code):
        return only(Account.find([
                    ('code', '=', code),
                    ('company', '=', company.id),
                    ]), f'account {code}')

    created = {}
    for code, (name, parent, like) in SETTLEMENT_ACCOUNTS.items():
        sibling = by_code(like)
        account = Account(name=name, code=code, company=company,
            parent=by_code(parent), type=sibling.type,
            reconcile=False, party_required=False)
        account.save()
        created[code] = account.id
    return created


def create_fiscal_years(company):
    FiscalYear = Model.get('account.fiscalyear')
    StrictSequence = Model.get('ir.sequence.strict')
    SequenceType = Model.get('ir.sequence.type')
    move_type = only(SequenceType.find([('name', '=', 'Account Move')]),
        'move sequence type')
    invoice_type = only(SequenceType.find([('name', '=', 'Invoice')]),
        'invoice sequence type')
    # Whole calendar years around today: a cached template stays usable
    # after a year end (the template key also includes the year).
    this_year = datetime.date.today().year
    for year in (this_year - 1, this_year, this_year + 1):
        move_seq = StrictSequence(name=f'Moves {year}',
            sequence_type=move_type, company=company)
        move_seq.save()
        invoice_seq = StrictSequence(name=f'Invoices {year}',
            sequence_type=invoice_type, company=company)
        invoice_seq.save()
        fiscal_year = FiscalYear(name=str(year), company=company,
            start_date=datetime.date(year, 1, 1),
            end_date=datetime.date(year, 12, 31),
            move_sequence=move_seq)
        sequences = only(fiscal_year.invoice_sequences, 'invoice sequences')
        sequences.out_invoice_sequence = invoice_seq
        sequences.out_credit_note_sequence = invoice_seq
        sequences.in_invoice_sequence = invoice_seq
        sequences.in_credit_note_sequence = invoice_seq
        fiscal_year.save()
        fiscal_year.click('create_period')


def create_payment_term():
    PaymentTerm = Model.get('account.invoice.payment_term')
    term = PaymentTerm(name='Direct')
    term.lines.new(type='remainder')
    term.save()
    return term


def create_taxes(company, accounts):
    Tax = Model.get('account.tax')
    taxes = {}
    for key, (name, rate) in TAXES.items():
        tax = Tax(name=name, description=name, type='percentage', rate=rate,
            company=company, invoice_account=accounts['tax'],
            credit_note_account=accounts['tax'])
        tax.save()
        taxes[key] = tax
    return taxes


def create_category(accounts, default_tax):
    Category = Model.get('product.category')
    category = Category(name='Goods', accounting=True,
        account_revenue=accounts['revenue'],
        account_expense=accounts['expense'])
    category.customer_taxes.append(default_tax)
    category.save()
    return category


def create_products(category, unit):
    Template = Model.get('product.template')
    Product = Model.get('product.product')
    templates = []
    for i in range(1, SKU_COUNT + 1):
        sku = f'SKU-{i:03d}'
        # The variant's code is the template code + its (empty) suffix.
        templates.append(Template(name=f'Crossdock item {sku}', code=sku,
            type='goods', salable=True, default_uom=unit, sale_uom=unit,
            list_price=Decimal(10 + i), account_category=category))
    Template.save(templates)
    products = []
    for template in templates:
        product = only(template.products, 'variant')
        product.cost_price = Decimal('4')
        products.append(product)
    Product.save(products)
    return products


def stock_up(storage, products):
    Inventory = Model.get('stock.inventory')
    inventory = Inventory(location=storage)
    for product in products:
        inventory.lines.new(product=product, quantity=float(STOCK_PER_SKU))
    inventory.save()
    inventory.click('confirm')
    if inventory.state != 'done':
        sys.exit(f'setup_erp: inventory ended in state {inventory.state}')


def create_payment_method(company, accounts):
    Journal = Model.get('account.journal')
    Method = Model.get('account.invoice.payment.method')
    journal = only(Journal.find([('type', '=', 'cash')], limit=1),
        'cash journal')
    method = Method(name='Crossdock payout', company=company,
        journal=journal, debit_account=accounts['cash'],
        credit_account=accounts['cash'])
    method.save()
    return method


def create_customer():
    Party = Model.get('party.party')
    customer = Party(name='Crossdock Test Customer')
    address = customer.addresses[0]
    address.street = '1 Dock Street'
    address.postal_code = '78701'
    address.city = 'Austin'
    customer.save()
    return customer


def create_web_shop(company, currency, warehouse, products):
    Shop = Model.get('web.shop')
    shop = Shop(name=SHOP_NAME, company=company, currency=currency)
    shop.warehouses.append(warehouse)
    # Publish the SKUs; fresh instances because records loaded through
    # template.products already belong to that One2Many.
    Product = Model.get('product.product')
    shop.products.extend([Product(p.id) for p in products])
    shop.save()
    return shop


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--database', '-d', required=True)
    parser.add_argument('--config', '-c', required=True,
        help='trytond configuration file')
    args = parser.parse_args()

    config = proteus_config.set_trytond(database=args.database,
        config_file=args.config)
    step(f'connected to {args.database}')

    if Model.get('company.company').find():
        sys.exit(f'setup_erp: database {args.database} already has a '
            'company; start from a freshly initialised database')

    currency = create_currency()
    company = create_company(config, currency)
    step(f'company {company.id} ({currency.code})')
    accounts = create_chart(config, company)
    settlement_accounts = create_settlement_accounts(company)
    step('chart of accounts, settlement accounts')
    create_fiscal_years(company)
    step('fiscal years')
    payment_term = create_payment_term()
    taxes = create_taxes(company, accounts)
    category = create_category(accounts, taxes[DEFAULT_TAX])
    payment_method = create_payment_method(company, accounts)
    customer = create_customer()
    step('payment term, taxes, category, payment method, customer')

    Uom = Model.get('product.uom')
    unit = only(Uom.find([('name', '=', 'Unit')]), 'unit of measure')
    products = create_products(category, unit)
    step(f'{len(products)} products')

    Location = Model.get('stock.location')
    warehouse = only(Location.find([
                ('type', '=', 'warehouse'), ('code', '=', 'WH')]),
        'warehouse WH')
    storage = warehouse.storage_location
    customer_location = only(Location.find([('type', '=', 'customer')]),
        'customer location')
    stock_up(storage, products)
    step(f'inventory of {STOCK_PER_SKU} per SKU in {storage.rec_name}')

    shop = create_web_shop(company, currency, warehouse, products)
    step(f'web shop {shop.name!r}')

    User = Model.get('res.user')
    admin = only(User.find([('login', '=', 'admin')]), 'admin user')
    if admin.company != company:
        sys.exit('setup_erp: admin did not get the company')

    fixture = {
        'company': company.id,
        'currency': currency.id,
        'admin_user': admin.id,
        'warehouse': warehouse.id,
        'warehouse_code': warehouse.code,
        'storage': storage.id,
        'customer_location': customer_location.id,
        'web_shop': shop.id,
        'web_shop_name': shop.name,
        'taxes': {key: tax.id for key, tax in taxes.items()},
        'default_tax': DEFAULT_TAX,
        'payment_term': payment_term.id,
        'payment_method': payment_method.id,
        'category': category.id,
        'unit': unit.id,
        'customer': customer.id,
        'customer_address': customer.addresses[0].id,
        'products': {p.code: p.id for p in products},
        'settlement_accounts': settlement_accounts,
        }
    print(json.dumps(fixture, separators=(',', ':')), flush=True)
    step('done')


if __name__ == '__main__':
    main()
